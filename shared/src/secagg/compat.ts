/**
 * Which strategies can run under secure aggregation: those whose aggregate is a
 * function of the (weighted) sum of the updates, since the sum is all the
 * coordinator learns. The order statistics and distance-based rules need each
 * update, SCAFFOLD needs each site's control variate, and k-means's first
 * round each site's candidate centres.
 */
import type { StrategyName } from '../strategy/spec';
import type { BrokenRule } from '../protocol/rules';

export const SUM_STRATEGIES: readonly StrategyName[] = ['fedavg', 'fedavgm', 'fedprox', 'fedadam', 'fedyogi', 'fedadagrad'];

/** Null when the strategy aggregates a sum; else why secure aggregation cannot run it, for the job's validation error. */
export function secureAggregationRefusal(strategy: StrategyName): Omit<BrokenRule, 'path'> | null {
  if (SUM_STRATEGIES.includes(strategy)) return null;
  if (strategy === 'kmeans') {
    return {
      rule: 'secureKmeans',
      message: "k-means cannot run under secure aggregation: its first round gathers each site's candidate centres one by one (docs/models.md); its later rounds are sums and could",
    };
  }
  const strategies = SUM_STRATEGIES.join(', ');
  if (strategy === 'scaffold') {
    return {
      rule: 'secureScaffold',
      values: { strategies },
      message: `the strategy scaffold needs each site's control variate, which secure aggregation hides; use one of ${strategies}`,
    };
  }
  return {
    rule: 'secureNeedsUpdates',
    values: { strategy, strategies },
    message: `the strategy ${strategy} needs the individual updates, which secure aggregation hides; use one of ${strategies}`,
  };
}
