/**
 * Which strategies can run under secure aggregation: those whose aggregate is a
 * function of the (weighted) sum of the updates, since the sum is all the
 * coordinator learns. The order statistics and distance-based rules need each
 * update, SCAFFOLD needs each site's control variate, and k-means's first
 * round each site's candidate centres.
 */
import type { StrategyName } from '../strategy/spec';

export const SUM_STRATEGIES: readonly StrategyName[] = ['fedavg', 'fedavgm', 'fedprox', 'fedadam', 'fedyogi', 'fedadagrad'];

/** Null when the strategy aggregates a sum; else why secure aggregation cannot run it, for the job's validation error. */
export function secureAggregationRefusal(strategy: StrategyName): string | null {
  if (SUM_STRATEGIES.includes(strategy)) return null;
  if (strategy === 'kmeans') {
    return "k-means cannot run under secure aggregation: its first round gathers each site's candidate centres one by one (docs/models.md); its later rounds are sums and could";
  }
  const why = strategy === 'scaffold' ? "each site's control variate" : 'the individual updates';
  return `the strategy ${strategy} needs ${why}, which secure aggregation hides; use one of ${SUM_STRATEGIES.join(', ')}`;
}
