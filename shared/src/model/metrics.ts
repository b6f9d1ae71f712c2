/** Metrics maths on plain arrays; each one checked by hand in metrics.spec.ts. */

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

/** Multiclass: probabilities n x k row-major against class indices. */
export function multiclassAccuracy(probabilities: ArrayLike<number>, labels: ArrayLike<number>, k: number): number {
  let right = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (probabilities[i * k + c] > probabilities[i * k + best]) best = c;
    if (best === labels[i]) right++;
  }
  return labels.length ? right / labels.length : 0;
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

export function rSquared(predictions: ArrayLike<number>, targets: ArrayLike<number>): number {
  let mean = 0;
  for (let i = 0; i < targets.length; i++) mean += targets[i];
  mean /= targets.length || 1;
  let total = 0;
  for (let i = 0; i < targets.length; i++) total += (targets[i] - mean) ** 2;
  return total === 0 ? 0 : 1 - (meanSquaredError(predictions, targets) * targets.length) / total;
}
