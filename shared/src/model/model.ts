/**
 * Model shapes and their maths, in plain TypeScript so that the coordinator,
 * tests and the simulator evaluate a global model without TF.js.
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
  const bias = d * k;
  const out = new Float32Array(n * k);
  const z = new Float64Array(k);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) z[c] = params[bias + c];
    for (let j = 0; j < d; j++) {
      const x = features[r * d + j];
      if (x === 0) continue;
      for (let c = 0; c < k; c++) z[c] += x * params[j * k + c];
    }
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
