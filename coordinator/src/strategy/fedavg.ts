/**
 * Every strategy of a job, as the round engine calls it: shared's maths for the
 * model and state (beginAggregation, trainConfigOf), and the metrics the
 * coordinator reports beside them. FedAvg (McMahan et al. 2017) is the default.
 */
import { beginAggregation, DEFAULT_STRATEGY, trainConfigOf, type LocalTraining, type StrategySpec } from '@fl/shared';
import type { RoundEvaluation } from '../storage/store';
import { cappedMeans, type SiteMetrics } from './metrics';
import type { AggregateResult, ClientUpdate, HeldOutEvaluation, RoundAggregation, Strategy } from './strategy';

/** The participants' evaluations of a model, as recorded with its round: example-weighted means, counts capped (metrics.ts). */
export function weightedEvaluation(replies: ReadonlyMap<string, HeldOutEvaluation>): RoundEvaluation {
  const sites = [...replies.values()];
  const metrics = cappedMeans(sites.map((r) => ({ metrics: r.metrics, count: r.numExamples })));
  return { metrics, numExamples: sites.reduce((n, r) => n + r.numExamples, 0), participants: [...replies.keys()] };
}

/** A job's strategy from its spec; `training` is the job's local training settings (SCAFFOLD counts steps with them). */
export function createStrategy(spec: StrategySpec, training: LocalTraining): Strategy {
  return {
    spec,
    // Every available participant takes part: cross-silo consortia are small, and each site's data counts.
    configureTrain: (_round, available, state) => ({ participants: [...available], config: (participant) => trainConfigOf(spec, state, participant) }),
    aggregateTrain: (global, state): RoundAggregation => {
      const aggregator = beginAggregation(spec, { global, state, training });
      const metrics: SiteMetrics[] = [];
      let numSamples = 0;
      // k-means: whether an update counted rows in a cluster; a round whose sites suppressed every cluster keeps the last model and its shares.
      let counted = false;
      return {
        add(update: ClientUpdate) {
          aggregator.add(update);
          metrics.push({ metrics: update.metrics, count: update.numSamples });
          numSamples += update.numSamples;
          if (spec.name === 'kmeans') counted ||= update.weights.subarray(update.weights.length - spec.k).some((share) => share > 0);
        },
        result(): AggregateResult | null {
          const aggregate = aggregator.result();
          return aggregate && { ...aggregate, metrics: { ...cappedMeans(metrics), ...(spec.name === 'kmeans' && counted && clusterRows(aggregate.weights, spec.k, numSamples)) }, numSamples };
        },
      };
    },
    configureEvaluate: (_round, available) => [...available],
    aggregateEvaluate: weightedEvaluation,
  };
}

/**
 * k-means: the round's rows in each cluster, `clusterRows1` to `clusterRowsK`, from
 * the clusters' shares in the new model (shared/src/model/kmeans.ts): what the
 * dashboard charts as cluster sizes, round by round. Rows a site suppressed are
 * spread over the clusters by these shares: the coordinator does not know theirs.
 */
function clusterRows(weights: Float32Array, k: number, rows: number): Record<string, number> {
  const shares = weights.subarray(weights.length - k);
  const total = shares.reduce((sum, share) => sum + share, 0);
  if (!(total > 0)) return {};
  return Object.fromEntries(Array.from(shares, (share, c) => [`clusterRows${c + 1}`, Math.round((share / total) * rows)]));
}

/** FedAvg weighted by sample count: the default strategy. */
export const fedAvg: Strategy = createStrategy(DEFAULT_STRATEGY, { learningRate: 0.1, localEpochs: 1, batchSize: 32 });
