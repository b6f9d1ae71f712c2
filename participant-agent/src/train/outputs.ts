/**
 * From a model's linear outputs z = xW + b to what the model kinds predict:
 * the sigmoid (logistic), the softmax (multiclass) or z itself (linear), and the
 * class. Shared by training, which turns them into residuals, and evaluation.
 */
import type { ModelShape } from '@fl/shared';

/**
 * The sigmoid and softplus of v from e = e^(−|v|), which both need: training
 * computes e once for the two in the epoch that reports its loss.
 */
export const sigmoidOf = (v: number, e: number): number => (v >= 0 ? 1 / (1 + e) : e / (1 + e));
/** log(1 + e^v) without overflow for large |v| */
export const softplusOf = (v: number, e: number): number => Math.max(v, 0) + Math.log1p(e);

export const sigmoid = (v: number): number => sigmoidOf(v, Math.exp(-Math.abs(v)));

/**
 * Writes softmax(z[row..row+k) + bias) to out[row..row+k), which may be z itself;
 * returns log Σ exp(z + bias), the normaliser a cross-entropy needs.
 */
export function softmaxRow(z: Float32Array, row: number, bias: ArrayLike<number>, k: number, out: Float32Array): number {
  let max = -Infinity;
  for (let c = 0; c < k; c++) max = Math.max(max, z[row + c] + bias[c]);
  let sum = 0;
  for (let c = 0; c < k; c++) sum += Math.exp(z[row + c] + bias[c] - max);
  for (let c = 0; c < k; c++) out[row + c] = Math.exp(z[row + c] + bias[c] - max) / sum;
  return max + Math.log(sum);
}

/** Predictions for n rows from their products z = xW (n x k, without bias), in place. */
export function activate(shape: ModelShape, z: Float32Array, bias: ArrayLike<number>, n: number): Float32Array {
  const k = shape.outputDim;
  for (let i = 0; i < n; i++) {
    if (shape.kind === 'softmax') softmaxRow(z, i * k, bias, k, z);
    else z[i] = shape.kind === 'logistic' ? sigmoid(z[i] + bias[0]) : z[i] + bias[0];
  }
  return z;
}

/**
 * The class row `row` of z = xW (n x k, without bias) predicts, as shared's
 * binaryAccuracy and multiclassAccuracy decide from the probabilities: 1 when
 * σ(z + b) >= 0.5, i.e. z + b >= 0; or the first of the largest z + b. Decided
 * from z rather than the probabilities so that training can count before it
 * turns z into residuals, without a sigmoid or softmax of its own.
 */
export function predictedClass(kind: 'logistic' | 'softmax', z: ArrayLike<number>, row: number, bias: ArrayLike<number>, k: number): number {
  if (kind === 'logistic') return z[row] + bias[0] >= 0 ? 1 : 0;
  let best = 0;
  for (let c = 1; c < k; c++) if (z[row + c] + bias[c] > z[row + best] + bias[best]) best = c;
  return best;
}
