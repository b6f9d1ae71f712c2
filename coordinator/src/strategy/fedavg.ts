/**
 * Every strategy of a job, as the round engine calls it: shared's maths for the
 * model and state (beginAggregation, trainConfigOf), and the metrics the
 * coordinator reports beside them. FedAvg (McMahan et al. 2017) is the default.
 */
import { beginAggregation, DEFAULT_STRATEGY, trainConfigOf, type LocalTraining, type StrategySpec } from '@fl/shared';
import type { RoundEvaluation } from '../storage/store';
import type { AggregateResult, ClientUpdate, HeldOutEvaluation, RoundAggregation, Strategy } from './strategy';

export class WeightedMetrics {
  private readonly sums = new Map<string, { sum: number; weight: number }>();

  add(metrics: Record<string, number>, weight: number): void {
    for (const [name, value] of Object.entries(metrics)) {
      const entry = this.sums.get(name) ?? { sum: 0, weight: 0 };
      entry.sum += value * weight;
      entry.weight += weight;
      this.sums.set(name, entry);
    }
  }

  means(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, { sum, weight }] of this.sums) if (weight > 0) out[name] = sum / weight;
    return out;
  }
}

/** The participants' evaluations of a model, as recorded with its round: example-weighted means. */
export function weightedEvaluation(replies: ReadonlyMap<string, HeldOutEvaluation>): RoundEvaluation {
  const metrics = new WeightedMetrics();
  let numExamples = 0;
  for (const reply of replies.values()) {
    metrics.add(reply.metrics, reply.numExamples);
    numExamples += reply.numExamples;
  }
  return { metrics: metrics.means(), numExamples, participants: [...replies.keys()] };
}

/** A job's strategy from its spec; `training` is the job's local training settings (SCAFFOLD counts steps with them). */
export function createStrategy(spec: StrategySpec, training: LocalTraining): Strategy {
  return {
    spec,
    // Every available participant takes part: cross-silo consortia are small, and each site's data counts.
    configureTrain: (_round, available, state) => ({ participants: [...available], config: (participant) => trainConfigOf(spec, state, participant) }),
    aggregateTrain: (global, state): RoundAggregation => {
      const aggregator = beginAggregation(spec, { global, state, training });
      const metrics = new WeightedMetrics();
      let numSamples = 0;
      return {
        add(update: ClientUpdate) {
          aggregator.add(update);
          metrics.add(update.metrics, update.numSamples);
          numSamples += update.numSamples;
        },
        result(): AggregateResult | null {
          const aggregate = aggregator.result();
          return aggregate && { ...aggregate, metrics: metrics.means(), numSamples };
        },
      };
    },
    configureEvaluate: (_round, available) => [...available],
    aggregateEvaluate: weightedEvaluation,
  };
}

/** FedAvg weighted by sample count: the default strategy. */
export const fedAvg: Strategy = createStrategy(DEFAULT_STRATEGY, { learningRate: 0.1, localEpochs: 1, batchSize: 32 });
