/**
 * The loss of each model kind, written once as a function of one row's logits
 * z = Wᵀx + b and its label, and used by both training and evaluation. A loss
 * returns the row's loss and, when asked, writes its gradient with respect to
 * that row's logits in closed form (the chain rule through z = Wᵀx + b is the
 * trainer's, the same for all). A new loss is one more such function; the test
 * of this module checks every one's gradient against finite differences of its
 * loss. The logits are shared's (`logits`), as the coordinator's predictions are.
 */
import { argmaxRow, type ModelKind } from '@fl/shared';

/**
 * The loss of one row of k logits `z` against its label: a 0/1 label for
 * logistic and a two-class svm, the class index for softmax and a one-vs-rest
 * svm, the value for linear. Writes ∂loss/∂z into `gradient` (k entries) when given.
 */
export type Loss = (z: Float64Array, k: number, label: number, gradient?: Float64Array) => number;

/** Binary cross-entropy of σ(z): softplus(z) − t·z, computed so that it stays finite for large |z|. */
const binaryCrossEntropy: Loss = (z, _k, t, gradient) => {
  const v = z[0];
  const e = Math.exp(-Math.abs(v));
  if (gradient) gradient[0] = (v >= 0 ? 1 / (1 + e) : e / (1 + e)) - t;
  return Math.max(v, 0) + Math.log1p(e) - t * v;
};

/** Cross-entropy of softmax(z) against the label's class: log Σ exp(z) − z_label. */
const softmaxCrossEntropy: Loss = (z, k, label, gradient) => {
  let max = z[0];
  for (let c = 1; c < k; c++) if (z[c] > max) max = z[c];
  let sum = 0;
  for (let c = 0; c < k; c++) sum += Math.exp(z[c] - max);
  const logSum = max + Math.log(sum);
  if (gradient) for (let c = 0; c < k; c++) gradient[c] = Math.exp(z[c] - logSum) - (c === label ? 1 : 0);
  return logSum - z[label];
};

/** Half the squared error, so that its gradient is the residual. */
const halfSquaredError: Loss = (z, _k, t, gradient) => {
  const residual = z[0] - t;
  if (gradient) gradient[0] = residual;
  return 0.5 * residual * residual;
};

/**
 * The squared hinge of a linear SVM (L2-SVM), summed over the row's margins, each
 * one-vs-rest: with s = +1 for the row's class (a two-class svm: s = 2t − 1) and
 * −1 for the others, Σ max(0, 1 − s·z)². Squared rather than plain: differentiable
 * everywhere, so SGD and the finite-difference check of the gradient hold at the
 * hinge too, with the same accuracy as the plain hinge on linear problems (docs/models.md).
 */
const squaredHinge: Loss = (z, k, label, gradient) => {
  let loss = 0;
  for (let c = 0; c < k; c++) {
    const s = (k === 1 ? label === 1 : c === label) ? 1 : -1;
    const margin = Math.max(0, 1 - s * z[c]);
    if (gradient) gradient[c] = -2 * s * margin;
    loss += margin * margin;
  }
  return loss;
};

/** The models trained by gradient steps on a loss: all but k-means, which is trained by Lloyd's steps (kmeans.ts). */
export type GradientModelKind = Exclude<ModelKind, 'kmeans'>;

export const LOSSES: Readonly<Record<GradientModelKind, Loss>> = {
  logistic: binaryCrossEntropy,
  softmax: softmaxCrossEntropy,
  linear: halfSquaredError,
  svm: squaredHinge,
};

/**
 * Whether the row with logits z is classified as its label says, a class decided
 * as shared's binaryAccuracy and multiclassAccuracy decide from the
 * probabilities: 1 when σ(z) >= 0.5, i.e. z >= 0 (an svm's margin likewise);
 * or the first of the largest z.
 */
export function isRight(z: Float64Array, k: number, label: number): boolean {
  return (k === 1 ? (z[0] >= 0 ? 1 : 0) : argmaxRow(z, 0, k)) === label;
}

