/**
 * Model shapes and their maths, in plain TypeScript: the coordinator, the
 * simulator and the agents' trainer compute a model's logits the same way.
 *
 * Parameter layout (one Float32Array): the weight matrix row-major
 * [inputDim x outputDim], then the bias [outputDim]. k-means has as many: its k
 * centres row-major [k x inputDim], then the clusters' weights (kmeans.ts).
 */

export const MODEL_KINDS = ['logistic', 'softmax', 'linear', 'svm', 'kmeans'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

export interface ModelShape {
  kind: ModelKind;
  inputDim: number;
  /** 1 for logistic, linear and a two-class svm; the number of classes for softmax and a one-vs-rest svm; k for kmeans */
  outputDim: number;
}

export function parameterCount(shape: ModelShape): number {
  return shape.inputDim * shape.outputDim + shape.outputDim;
}

/** The initial global model: all zeros, the usual start for convex models, and k-means not yet initialised. */
export function initialParameters(shape: ModelShape): Float32Array {
  return new Float32Array(parameterCount(shape));
}

const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/**
 * Predictions for n rows of features (row-major n x inputDim): the probability of
 * the positive class (logistic), class probabilities n x outputDim (softmax), the
 * value (linear), or the margins z (svm: one, positive for the positive class, or
 * one per class, one-vs-rest, the largest winning), or the squared distance to
 * each of the k centres (kmeans: the nearest is the row's cluster).
 */
export function predict(shape: ModelShape, params: Float32Array, features: Float32Array, n: number): Float32Array {
  const { inputDim: d, outputDim: k } = shape;
  if (params.length !== parameterCount(shape)) throw new Error('parameters do not match the model shape');
  if (features.length !== n * d) throw new Error('features do not match the model shape');
  if (shape.kind === 'kmeans') return squaredDistances(params, k, features, n, d);
  const out = new Float32Array(n * k);
  const z = new Float64Array(k);
  for (let r = 0; r < n; r++) {
    logits(params, features, r, d, k, z);
    if (shape.kind === 'svm') for (let c = 0; c < k; c++) out[r * k + c] = z[c];
    else if (shape.kind === 'linear') out[r] = z[0];
    else if (shape.kind === 'logistic') out[r] = sigmoid(z[0]);
    else {
      let max = -Infinity;
      for (let c = 0; c < k; c++) max = Math.max(max, z[c]);
      let sum = 0;
      for (let c = 0; c < k; c++) sum += Math.exp(z[c] - max);
      for (let c = 0; c < k; c++) out[r * k + c] = Math.exp(z[c] - max) / sum;
    }
  }
  return out;
}

/**
 * z = Wᵀx + b for row `row` of the n x d features `x`, into `z` (k entries), in
 * float64, the parameters in the layout above: a (d + 1) x k matrix whose last
 * row is the bias.
 */
export function logits(params: ArrayLike<number>, x: Float32Array, row: number, d: number, k: number, z: Float64Array): void {
  const bias = d * k;
  const offset = row * d;
  if (k === 1) {
    // Most of the convex models are one output: the loop without its inner one.
    let sum = params[bias];
    for (let j = 0; j < d; j++) sum += x[offset + j] * params[j];
    z[0] = sum;
    return;
  }
  for (let c = 0; c < k; c++) z[c] = params[bias + c];
  for (let j = 0; j < d; j++) {
    const value = x[offset + j];
    if (value === 0) continue;
    for (let c = 0, at = j * k; c < k; c++, at++) z[c] += value * params[at];
  }
}

function squaredDistances(centres: Float32Array, k: number, x: Float32Array, n: number, d: number): Float32Array {
  const out = new Float32Array(n * k);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      let sum = 0;
      for (let j = 0; j < d; j++) sum += (x[r * d + j] - centres[c * d + j]) ** 2;
      out[r * k + c] = sum;
    }
  }
  return out;
}
