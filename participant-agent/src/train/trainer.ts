/**
 * Local training of the convex models (logistic, softmax, linear, svm) and k-means on a site's own
 * data, and evaluation of a parameter vector against it: one path, with each
 * kind's loss written once (losses.ts) and trained by sgd.ts.
 */
import { logits, parameterCount, type ModelShape } from '@fl/shared';
import { isRight, LOSSES } from './losses';
import { validate, type TrainOptions, type TrainResult } from './options';
import { kmeansEvaluate, kmeansTrain } from './kmeans';
import { sgd } from './sgd';

export type { TrainOptions, TrainResult } from './options';

export interface Evaluation {
  /** The same loss as TrainResult.loss, without the L2 term. */
  loss: number;
  /** logistic, softmax and svm */
  accuracy?: number;
  /** linear */
  mse?: number;
  /** kmeans: the mean squared distance of a row to its nearest centre, the same figure as the loss */
  inertia?: number;
}

/** Trains from the given global parameters and returns new ones. */
export async function trainLocal(options: TrainOptions): Promise<TrainResult> {
  validate(options);
  // k-means first: a site without rows sends zero sums, not the centres it was sent.
  if (options.shape.kind === 'kmeans') return kmeansTrain(options);
  if (options.n === 0) return { params: options.params.slice(), loss: 0, samples: 0, steps: 0 };
  return sgd(options);
}

/** Loss and accuracy (or MSE) of a parameter vector on local data, with the loss training reports (losses.ts). */
export function evaluateLocal(shape: ModelShape, params: Float32Array, x: Float32Array, y: Float32Array, n: number): Evaluation {
  const { inputDim: d, outputDim: k } = shape;
  if (params.length !== parameterCount(shape)) throw new Error('parameters do not match the model shape');
  if (x.length !== n * d) throw new Error('features do not match the model shape');
  if (y.length !== n) throw new Error('targets do not match n');
  if (shape.kind === 'kmeans') return kmeansEvaluate(shape, params, x, n);
  const loss = LOSSES[shape.kind];
  const classifier = shape.kind !== 'linear';
  const z = new Float64Array(k);
  let lossSum = 0;
  let right = 0;
  for (let row = 0; row < n; row++) {
    logits(params, x, row, d, k, z);
    lossSum += loss(z, k, y[row]);
    if (classifier && isRight(z, k, y[row])) right++;
  }
  // Without rows every figure is 0, as shared's metrics give.
  const mean = n > 0 ? lossSum / n : 0;
  // The linear loss is half the squared error.
  return classifier ? { loss: mean, accuracy: n > 0 ? right / n : 0 } : { loss: mean, mse: 2 * mean };
}
