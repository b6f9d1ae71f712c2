/**
 * A job's strategy, in Flower's shape: configure-train (who takes part, with
 * which per-round config), aggregate-train (updates one at a time as they
 * arrive, into the next global model and state), configure-evaluate and
 * aggregate-evaluate. The maths is shared's (shared/src/strategy), which the
 * audit recomputes with; the engine, not the strategy, hashes and stores what
 * it returns. Pure: no Nest, no sockets, no store.
 */
import type { StrategySpec, StrategyState, TrainConfig } from '@fl/shared';
import type { RoundEvaluation } from '../storage/store';

export interface ClientUpdate {
  participant: string;
  weights: Float32Array;
  numSamples: number;
  metrics: Record<string, number>;
}

export interface AggregateResult {
  weights: Float32Array;
  /** the strategy's state after this round, committed with the model */
  state: StrategyState;
  /** means of the metrics the contributors reported, weighted by sample counts capped at their median (metrics.ts) */
  metrics: Record<string, number>;
  numSamples: number;
}

export interface RoundAggregation {
  /** Takes one accepted update; its weights do not change afterwards, so a strategy may keep them until result(). */
  add(update: ClientUpdate): void;
  /** The aggregate, or null when no update came: the previous global model stays. */
  result(): AggregateResult | null;
}

export interface TrainInstructions {
  /** the participants asked to train, among those available */
  participants: string[];
  /** what each trains with besides the job's settings; signed into its train request */
  config(participant: string): TrainConfig;
}

/** A participant's metrics of a global model on its held-out rows. */
export interface HeldOutEvaluation {
  numExamples: number;
  metrics: Record<string, number>;
}

export interface Strategy {
  readonly spec: StrategySpec;
  configureTrain(round: number, available: readonly string[], state: StrategyState): TrainInstructions;
  aggregateTrain(global: Float32Array, state: StrategyState): RoundAggregation;
  /** the participants asked to evaluate a round's global model */
  configureEvaluate(round: number, available: readonly string[]): string[];
  aggregateEvaluate(replies: ReadonlyMap<string, HeldOutEvaluation>): RoundEvaluation;
}
