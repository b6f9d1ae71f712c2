/** A job's `secureAggregation` options. Pure zod: the dashboard validates with it too. */
import { z } from 'zod';

export const SecureAggregationSpecSchema = z.strictObject({
  /** k: each party masks with, and shares its secrets among, this many others (all others when fewer); even */
  neighbours: z.number().int().min(2).max(254).multipleOf(2).default(8),
  /** t: the shares that rebuild a secret; each party must keep this many live neighbours; below k and at most minParticipants − 1; default k/2 + 1 */
  threshold: z.number().int().min(2).max(254).optional(),
  /** R: each coordinate of an update (its difference from the global model) is clipped to [−R, R] */
  range: z.number().positive().max(1e6).default(1),
  /** W: the largest integer weight (sample count) a party puts on its update */
  maxWeight: z.number().int().min(1).max(1_000_000).default(1000),
  /** the statistics phase: fixed-point levels across a numeric feature's declared bounds (secagg/statistics.ts) */
  statisticsLevels: z.number().int().min(2).max(2 ** 30).default(2 ** 20),
  /**
   * Gathers the categories of the categorical features that declare none, in
   * two secure rounds before the statistics (secagg/vocabulary.ts): only values
   * held by at least `minSites` sites are revealed and kept.
   */
  vocabulary: z
    .strictObject({
      minSites: z.number().int().min(1).max(100_000).default(2),
      /** hash buckets per feature: values of one feature sharing a bucket are not gathered */
      buckets: z.number().int().min(16).max(1 << 20).default(4096),
      /** the longest value gathered, in UTF-8 bytes */
      maxBytes: z.number().int().min(1).max(1000).default(64),
    })
    .optional(),
});
export type SecureAggregationSpec = z.infer<typeof SecureAggregationSpecSchema>;

/** t for k neighbours among n parties: the given threshold, else ⌊k′/2⌋ + 1 with k′ = min(k, n − 1). */
export function thresholdOf(spec: SecureAggregationSpec, parties: number): number {
  const k = Math.min(spec.neighbours, parties - 1);
  return Math.max(2, spec.threshold ?? Math.floor(k / 2) + 1);
}
