/**
 * Local training of the convex models (logistic, softmax, linear, svm) and k-means on a site's own
 * data, and evaluation of a parameter vector against it: one path, TF.js ops on
 * the process's backend (backend.ts), with each kind's loss written once (losses.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { parameterCount, type ModelShape } from '@fl/shared';
import { selectBackend } from './backend';
import { countRight, isOneHot, LOSSES, targetsOf } from './losses';
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

/**
 * Trains from the given global parameters and returns new ones. Initialises the
 * process's TF.js backend on first use; call selectBackend() beforehand to choose it.
 */
export async function trainLocal(options: TrainOptions): Promise<TrainResult> {
  validate(options);
  await selectBackend();
  // k-means first: a site without rows sends zero sums, not the centres it was sent.
  if (options.shape.kind === 'kmeans') return kmeansTrain(options);
  if (options.n === 0) return { params: options.params.slice(), loss: 0, samples: 0, steps: 0 };
  return sgd(options);
}

/** Rows evaluated per upload, so that a large data set is never on the device twice. */
const EVALUATION_CHUNK = 8192;

/**
 * Loss and accuracy (or MSE) of a parameter vector on local data, with the loss
 * training reports (losses.ts). Initialises the backend as trainLocal does.
 */
export async function evaluateLocal(shape: ModelShape, params: Float32Array, x: Float32Array, y: Float32Array, n: number): Promise<Evaluation> {
  const { inputDim: d, outputDim: k } = shape;
  if (params.length !== parameterCount(shape)) throw new Error('parameters do not match the model shape');
  if (x.length !== n * d) throw new Error('features do not match the model shape');
  if (y.length !== n) throw new Error('targets do not match n');
  if (shape.kind === 'kmeans') return kmeansEvaluate(shape, params, x, n);
  await selectBackend();
  const loss = LOSSES[shape.kind];
  const oneHot = isOneHot(shape) ? new Float32Array(Math.min(EVALUATION_CHUNK, n) * k) : undefined;
  // Summed on the host in float64, a chunk at a time.
  let lossSum = 0;
  let right = 0;
  const [w, b] = tf.tidy(() => [tf.tensor2d(params.slice(0, d * k), [d, k]), tf.tensor1d(params.slice(d * k))]);
  try {
    for (let start = 0; start < n; start += EVALUATION_CHUNK) {
      const size = Math.min(EVALUATION_CHUNK, n - start);
      const [rowLoss, z] = tf.tidy(() => {
        const xc = tf.tensor2d(x.subarray(start * d, (start + size) * d), [size, d]);
        const logits = tf.add(tf.matMul(xc, w), b) as tf.Tensor2D;
        return [tf.sum(loss.rows(logits, tf.tensor2d(targetsOf(shape, y, start, size, oneHot), [size, k]))), logits];
      });
      try {
        lossSum += rowLoss.dataSync()[0];
        if (shape.kind !== 'linear') right += countRight(z.dataSync(), y, start, k);
      } finally {
        rowLoss.dispose();
        z.dispose();
      }
    }
  } finally {
    w.dispose();
    b.dispose();
  }
  // Without rows every figure is 0, as shared's metrics give.
  const mean = n > 0 ? lossSum / n : 0;
  // The linear loss is half the squared error.
  return shape.kind === 'linear' ? { loss: mean, mse: 2 * mean } : { loss: mean, accuracy: n > 0 ? right / n : 0 };
}
