/**
 * The loss of each model kind, written once as TF.js ops on the logits z = XW + b
 * and used by both training and evaluation. A loss is a pair: the loss of every
 * row, and its gradient with respect to that row's logits, in closed form beside
 * it (the chain rule through z = XW + b is the trainer's, the same for all). A
 * new loss is one more such pair; the test of this module checks every pair's
 * gradient against finite differences of its loss.
 *
 * Closed forms rather than autodiff (tf.grad): tfjs-core registers no gradients
 * by itself, and autodiff took about twice as long a step (docs/adr/0010-one-training-path.md).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelKind, ModelShape } from '@fl/shared';

export interface Loss {
  /**
   * The loss of each row, [B], of logits z (B x k) against targets t (B x k):
   * 0/1 labels for logistic and a two-class svm, one-hot classes for softmax and
   * a one-vs-rest svm, values for linear.
   */
  rows(z: tf.Tensor2D, t: tf.Tensor2D): tf.Tensor1D;
  /** ∂rows/∂z, B x k: each row's gradient with respect to its own logits. */
  gradient(z: tf.Tensor2D, t: tf.Tensor2D): tf.Tensor2D;
}

/** Binary cross-entropy of σ(z): softplus(z) − t·z, which stays finite for large |z|. */
const binaryCrossEntropy: Loss = {
  rows: (z, t) => tf.reshape(tf.sub(tf.softplus(z), tf.mul(t, z)), [-1]),
  gradient: (z, t) => tf.sub(tf.sigmoid(z), t),
};

/** Cross-entropy of softmax(z) against one-hot targets. */
const softmaxCrossEntropy: Loss = {
  rows: (z, t) => tf.neg(tf.sum<tf.Tensor1D>(tf.mul(t, tf.logSoftmax(z)), 1)),
  gradient: (z, t) => tf.sub(tf.softmax(z), t),
};

/** Half the squared error, so that its gradient is the residual. */
const halfSquaredError: Loss = {
  rows: (z, t) => tf.reshape(tf.mul(tf.squaredDifference(z, t), 0.5), [-1]),
  gradient: (z, t) => tf.sub(z, t),
};

/**
 * The squared hinge of a linear SVM (L2-SVM), summed over the row's margins, each
 * one-vs-rest: with s = 2t − 1 in {−1, +1}, Σ max(0, 1 − s·z)². Squared rather than
 * plain: differentiable everywhere, so SGD and the finite-difference check of the
 * gradient hold at the hinge too, with the same accuracy as the plain hinge on
 * linear problems (docs/models.md).
 */
const squaredHinge: Loss = {
  rows: (z, t) => tf.sum<tf.Tensor1D>(tf.square(tf.relu(tf.sub(1, tf.mul(tf.sub(tf.mul(t, 2), 1), z)))), 1),
  gradient: (z, t) => {
    const s = tf.sub(tf.mul(t, 2), 1);
    return tf.mul(tf.mul(s, -2), tf.relu(tf.sub(1, tf.mul(s, z))));
  },
};

/** The models trained by gradient steps on a loss: all but k-means, which is trained by Lloyd's steps (kmeans.ts). */
export type GradientModelKind = Exclude<ModelKind, 'kmeans'>;

export const LOSSES: Readonly<Record<GradientModelKind, Loss>> = {
  logistic: binaryCrossEntropy,
  softmax: softmaxCrossEntropy,
  linear: halfSquaredError,
  svm: squaredHinge,
};

/** One output per class, the targets one-hot: softmax, and an svm of more than two classes. */
export function isOneHot(shape: ModelShape): boolean {
  return shape.kind === 'softmax' || (shape.kind === 'svm' && shape.outputDim > 1);
}

/**
 * The targets of rows [start, start + size) of `labels` as the loss takes them:
 * one-hot rows (isOneHot), written into `oneHot` (at least size x k, reused
 * from batch to batch), else the labels themselves.
 */
export function targetsOf(shape: ModelShape, labels: Float32Array, start: number, size: number, oneHot?: Float32Array): Float32Array {
  if (!isOneHot(shape)) return labels.subarray(start, start + size);
  const k = shape.outputDim;
  if (!oneHot || oneHot.length < size * k) throw new Error(`${shape.kind} targets need a one-hot buffer of batch x classes`);
  oneHot.fill(0, 0, size * k);
  for (let i = 0; i < size; i++) oneHot[i * k + labels[start + i]] = 1;
  return oneHot.subarray(0, size * k);
}

/**
 * The rows among `count` logit rows z (row-major, k a row, bias included) that are
 * classified as labels[start + i] says, a class decided as shared's binaryAccuracy
 * and multiclassAccuracy decide from the probabilities: 1 when σ(z) >= 0.5, i.e.
 * z >= 0 (an svm's margin likewise); or the first of the largest z. Counted on
 * the host: on the agent's backends reading a batch's logits back is a copy of a
 * few µs, where counting on the device takes several ops.
 */
export function countRight(z: ArrayLike<number>, labels: Float32Array, start: number, k: number): number {
  let right = 0;
  for (let row = 0, i = 0; row < z.length; row += k, i++) {
    let predicted = 0;
    if (k === 1) predicted = z[row] >= 0 ? 1 : 0;
    else for (let c = 1; c < k; c++) if (z[row + c] > z[row + predicted]) predicted = c;
    if (predicted === labels[start + i]) right++;
  }
  return right;
}
