/**
 * What an update's weights may hold. Every input the models see is standardized
 * (numeric features to mean 0 and deviation 1, categories one-hot, a linear
 * target standardized too: ADR 0009), so an honest model's weights are of order
 * one to a hundred. A bound far above that, and far below float32's 3.4e38,
 * keeps every aggregate and every site's next training step finite.
 */
import type { ErrorCode } from '@fl/shared';

/** The largest absolute weight an update may hold: 10^4 times an honest model's largest. */
export const MAX_ABS_WEIGHT = 1e6;

/** Null when every weight is finite and within MAX_ABS_WEIGHT; else the code and reason to leave the update out. */
export function implausibleWeights(weights: Float32Array): { code: ErrorCode; reason: string } | null {
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i];
    // One comparison per weight in the common case; NaN fails it too.
    if (w <= MAX_ABS_WEIGHT && w >= -MAX_ABS_WEIGHT) continue;
    if (!Number.isFinite(w)) return { code: 'NON_FINITE', reason: `weight ${i} is ${w}` };
    return { code: 'IMPLAUSIBLE_WEIGHTS', reason: `weight ${i} is beyond ±${MAX_ABS_WEIGHT}, where no model of standardized inputs goes` };
  }
  return null;
}
