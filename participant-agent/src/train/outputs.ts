/**
 * From a model's linear outputs z = xW + b to what the model kinds predict:
 * the sigmoid (logistic), the softmax (multiclass) or z itself (linear). Shared
 * by training, which turns them into residuals, and evaluation.
 */
import type { ModelShape } from '@fl/shared';

export const sigmoid = (v: number): number => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)));

/** log(1 + e^v) without overflow for large |v| */
export const softplus = (v: number): number => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));

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
