/** Metrics maths on plain arrays; each one checked by hand in model.spec.ts or metrics.spec.ts. */

const EPS = 1e-7;
const clamp = (p: number) => Math.min(1 - EPS, Math.max(EPS, p));

/** Binary: probabilities of the positive class against labels 0/1. */
export function binaryAccuracy(probabilities: ArrayLike<number>, labels: ArrayLike<number>, threshold = 0.5): number {
  let right = 0;
  for (let i = 0; i < labels.length; i++) if ((probabilities[i] >= threshold ? 1 : 0) === labels[i]) right++;
  return labels.length ? right / labels.length : 0;
}

export function binaryLogLoss(probabilities: ArrayLike<number>, labels: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = clamp(probabilities[i]);
    sum -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return labels.length ? sum / labels.length : 0;
}

/** 2TP / (2TP + FP + FN) for the positive class; 0 when there is nothing positive, predicted or true. */
export function binaryF1(probabilities: ArrayLike<number>, labels: ArrayLike<number>, threshold = 0.5): number {
  let tp = 0;
  let wrong = 0;
  for (let i = 0; i < labels.length; i++) {
    const predicted = probabilities[i] >= threshold ? 1 : 0;
    if (predicted === 1 && labels[i] === 1) tp++;
    else if (predicted !== labels[i]) wrong++;
  }
  return tp + wrong === 0 ? 0 : (2 * tp) / (2 * tp + wrong);
}

/**
 * Area under the ROC curve: the probability that a random positive scores above a
 * random negative, a tie counting 1/2. Computed as the Mann–Whitney U statistic
 * with average ranks for tied scores, in O(n log n). NaN when either class is
 * absent: the area is undefined then, and a number would mislead.
 */
export function auc(probabilities: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = labels.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => probabilities[a] - probabilities[b]);
  let positives = 0;
  let positiveRanks = 0;
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && probabilities[order[end]] === probabilities[order[start]]) end++;
    // ranks start+1 .. end share their mean
    const rank = (start + 1 + end) / 2;
    for (let i = start; i < end; i++) {
      if (labels[order[i]] === 1) {
        positives++;
        positiveRanks += rank;
      }
    }
    start = end;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (positiveRanks - (positives * (positives + 1)) / 2) / (positives * negatives);
}

// Multiclass: probabilities n x k row-major against class indices.

/** The predicted class of a row of probabilities, or of logits (the same order): the first of the largest. */
export function argmaxRow(probabilities: ArrayLike<number>, row: number, k: number): number {
  let best = 0;
  for (let c = 1; c < k; c++) if (probabilities[row * k + c] > probabilities[row * k + best]) best = c;
  return best;
}

export function multiclassAccuracy(probabilities: ArrayLike<number>, labels: ArrayLike<number>, k: number): number {
  let right = 0;
  for (let i = 0; i < labels.length; i++) if (argmaxRow(probabilities, i, k) === labels[i]) right++;
  return labels.length ? right / labels.length : 0;
}

/**
 * The unweighted mean of the per-class F1 scores of the argmax predictions, over
 * the classes that occur among the labels or the predictions (as scikit-learn's
 * f1_score(average='macro') does): a class absent from both has no F1 to average.
 */
export function macroF1(probabilities: ArrayLike<number>, labels: ArrayLike<number>, k: number): number {
  const tp = new Float64Array(k);
  const fp = new Float64Array(k);
  const fn = new Float64Array(k);
  for (let i = 0; i < labels.length; i++) {
    const predicted = argmaxRow(probabilities, i, k);
    if (predicted === labels[i]) tp[predicted]++;
    else {
      fp[predicted]++;
      fn[labels[i]]++;
    }
  }
  let sum = 0;
  let classes = 0;
  for (let c = 0; c < k; c++) {
    const denominator = 2 * tp[c] + fp[c] + fn[c];
    if (denominator === 0) continue;
    sum += (2 * tp[c]) / denominator;
    classes++;
  }
  return classes ? sum / classes : 0;
}

export function multiclassLogLoss(probabilities: ArrayLike<number>, labels: ArrayLike<number>, k: number): number {
  let sum = 0;
  for (let i = 0; i < labels.length; i++) sum -= Math.log(clamp(probabilities[i * k + labels[i]]));
  return labels.length ? sum / labels.length : 0;
}

/** Regression: mean squared error (the linear model's training loss is half of it). */
export function meanSquaredError(predictions: ArrayLike<number>, targets: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < targets.length; i++) sum += (predictions[i] - targets[i]) ** 2;
  return targets.length ? sum / targets.length : 0;
}

export function rootMeanSquaredError(predictions: ArrayLike<number>, targets: ArrayLike<number>): number {
  return Math.sqrt(meanSquaredError(predictions, targets));
}

export function meanAbsoluteError(predictions: ArrayLike<number>, targets: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < targets.length; i++) sum += Math.abs(predictions[i] - targets[i]);
  return targets.length ? sum / targets.length : 0;
}

export function rSquared(predictions: ArrayLike<number>, targets: ArrayLike<number>): number {
  let mean = 0;
  for (let i = 0; i < targets.length; i++) mean += targets[i];
  mean /= targets.length || 1;
  let total = 0;
  for (let i = 0; i < targets.length; i++) total += (targets[i] - mean) ** 2;
  return total === 0 ? 0 : 1 - (meanSquaredError(predictions, targets) * targets.length) / total;
}
