/**
 * The metrics the coordinator reports for a round and for an evaluation: means
 * weighted by each site's count, every count capped at the (lower) median of
 * the counts. Honest sites of ordinary size keep their sample weighting; a site
 * claiming a huge count weighs no more than a median site, so one site's claim
 * cannot steer what the coordinator reports (the model's own aggregation is the
 * strategy's, its counts bounded by what the site reported in the statistics phase).
 */

/** One site's report: its metrics and the count it claims they were measured on. */
export interface SiteMetrics {
  metrics: Record<string, number>;
  count: number;
}

/** The weight each count gets: itself, at most the lower median of them all. */
export function cappedWeights(counts: number[]): number[] {
  if (counts.length === 0) return [];
  const sorted = [...counts].sort((a, b) => a - b);
  const cap = sorted[(sorted.length - 1) >> 1];
  return counts.map((n) => Math.min(n, cap));
}

export function cappedMeans(sites: SiteMetrics[]): Record<string, number> {
  const weights = cappedWeights(sites.map((s) => s.count));
  const sums = new Map<string, { sum: number; weight: number }>();
  sites.forEach(({ metrics }, i) => {
    for (const [name, value] of Object.entries(metrics)) {
      const entry = sums.get(name) ?? { sum: 0, weight: 0 };
      entry.sum += value * weights[i];
      entry.weight += weights[i];
      sums.set(name, entry);
    }
  });
  const out: Record<string, number> = {};
  // A mean that overflows (one site's value near the float limit) is left out: stored, it would be null, which no view accepts.
  for (const [name, { sum, weight }] of sums) if (weight > 0 && Number.isFinite(sum / weight)) out[name] = sum / weight;
  return out;
}
