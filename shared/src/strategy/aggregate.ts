/**
 * The maths of every strategy, as pure functions: from the global model, the
 * state the last round left and the round's updates in the order they were
 * folded in, the next global model and state; and the per-round config each
 * participant trains with. The coordinator aggregates with these and the audit
 * verifiers (`fl-coordinator audit verify`, `fl-agent audit verify`) recompute
 * with them, so the two can never disagree about what a strategy means.
 *
 * Every sum is float64 in the order updates came; the model is rounded to
 * float32 once, at the end. FedAvg without clipping keeps exactly the arithmetic
 * of WeightedAverage, so that logs written before strategies existed verify.
 */
import { WeightedAverage } from '../model/average';
import { kmeansInitialised, kmeansStep } from '../model/kmeans';
import type { StrategyName, StrategyOf, StrategySpec } from './spec';
import { EMPTY_STATE, type StrategyState } from './state';

export interface StrategyUpdate {
  participant: string;
  weights: Float32Array;
  numSamples: number;
}

/** The job's local training settings: SCAFFOLD derives each site's number of steps from them. */
export interface LocalTraining {
  learningRate: number;
  localEpochs: number;
  batchSize: number;
}

export interface AggregationInput {
  global: Float32Array;
  state: StrategyState;
  training: LocalTraining;
}

export interface Aggregate {
  weights: Float32Array;
  state: StrategyState;
}

/** One round's aggregation: updates one at a time, then the result. */
export interface Aggregator {
  add(update: StrategyUpdate): void;
  /** The next model and state; null when no update came, and the previous model stays. */
  result(): Aggregate | null;
}

/** What a participant trains with besides the job's settings, as the train request carries it. */
export interface TrainConfig {
  /** FedProx: μ of the proximal term (μ/2)·‖w − w_global‖² */
  proximalMu?: number;
  /** SCAFFOLD: c − c_i, added to every gradient step's gradient; the shared weight layout */
  correction?: Float32Array;
}

interface StrategyMaths<N extends StrategyName> {
  begin(spec: StrategyOf<N>, input: AggregationInput): Aggregator;
  trainConfig(spec: StrategyOf<N>, state: StrategyState, participant: string): TrainConfig;
  /** what the state keeps of each participant, when it keeps anything (SCAFFOLD's c_i) */
  perParticipant?: {
    held(state: StrategyState): string[];
    without(state: StrategyState, participants: ReadonlySet<string>): StrategyState;
  };
}

const noConfig = (): TrainConfig => ({});

/** An update as it is aggregated: its difference from the global model scaled to at most `clipNorm`. */
function bounded(global: Float32Array, weights: Float32Array, clipNorm: number | undefined): ArrayLike<number> {
  if (clipNorm === undefined) return weights;
  let squares = 0;
  for (let i = 0; i < weights.length; i++) {
    const d = weights[i] - global[i];
    squares += d * d;
  }
  const norm = Math.sqrt(squares);
  if (norm <= clipNorm) return weights;
  const scale = clipNorm / norm;
  const out = new Float64Array(weights.length);
  for (let i = 0; i < out.length; i++) out[i] = global[i] + (weights[i] - global[i]) * scale;
  return out;
}

function checkSize(global: Float32Array, update: StrategyUpdate): void {
  if (update.weights.length !== global.length) throw new Error('update size differs from the global model');
}

/**
 * The weighted mean of the (bounded) updates, streamed; `step` turns it into
 * the next model and state, `each` sees every bounded update as it comes.
 */
function averaging(
  spec: { weighting: 'samples' | 'uniform'; clipNorm?: number },
  input: AggregationInput,
  step: (mean: WeightedAverage) => Aggregate,
  each?: (update: StrategyUpdate, weights: ArrayLike<number>) => void,
): Aggregator {
  const average = new WeightedAverage(input.global.length);
  return {
    add(update) {
      checkSize(input.global, update);
      const weights = bounded(input.global, update.weights, spec.clipNorm);
      average.add(weights, spec.weighting === 'uniform' ? 1 : update.numSamples);
      each?.(update, weights);
    },
    result: () => (average.weight === 0 ? null : step(average)),
  };
}

const plainAverage = (mean: WeightedAverage): Aggregate => ({ weights: mean.result()!, state: EMPTY_STATE });

/** The averaged update Δ = mean − x, in float64. */
function pseudoGradient(mean: WeightedAverage, global: Float32Array): Float64Array {
  const delta = mean.mean()!;
  for (let i = 0; i < delta.length; i++) delta[i] -= global[i];
  return delta;
}

const zeros = (state: StrategyState, name: string, size: number) => state[name]?.slice() ?? new Float64Array(size);

/** Reddi et al. 2021, Algorithm 2: m and v from Δ, then x ← x + η·m / (√v + τ). */
function adaptive(
  kind: 'adam' | 'yogi' | 'adagrad',
  spec: { serverLearningRate: number; tau: number; beta1?: number; beta2?: number },
  input: AggregationInput,
) {
  return (mean: WeightedAverage): Aggregate => {
    const { global, state } = input;
    const delta = pseudoGradient(mean, global);
    const m = zeros(state, 'm', global.length);
    const v = zeros(state, 'v', global.length);
    const beta1 = spec.beta1 ?? 0;
    const beta2 = spec.beta2 ?? 0;
    const next = new Float32Array(global.length);
    for (let i = 0; i < next.length; i++) {
      const d = delta[i];
      const d2 = d * d;
      m[i] = kind === 'adagrad' ? d : beta1 * m[i] + (1 - beta1) * d;
      if (kind === 'adam') v[i] = beta2 * v[i] + (1 - beta2) * d2;
      else if (kind === 'yogi') v[i] = v[i] - (1 - beta2) * d2 * Math.sign(v[i] - d2);
      else v[i] = v[i] + d2;
      next[i] = global[i] + (spec.serverLearningRate * m[i]) / (Math.sqrt(v[i]) + spec.tau);
    }
    return { weights: next, state: kind === 'adagrad' ? { v } : { m, v } };
  };
}

/** Keeps the round's bounded updates, for the strategies that need all of them at once. */
function keeping(spec: { clipNorm?: number }, input: AggregationInput, combine: (kept: Kept[]) => Float32Array): Aggregator {
  const kept: Kept[] = [];
  return {
    add(update) {
      checkSize(input.global, update);
      kept.push({ weights: bounded(input.global, update.weights, spec.clipNorm), numSamples: update.numSamples });
    },
    result: () => (kept.length === 0 ? null : { weights: combine(kept), state: EMPTY_STATE }),
  };
}

interface Kept {
  weights: ArrayLike<number>;
  numSamples: number;
}

/** Per coordinate: the kept values sorted, reduced to one by `pick`. */
function coordinateWise(kept: Kept[], pick: (sorted: Float64Array) => number): Float32Array {
  const size = kept[0].weights.length;
  const column = new Float64Array(kept.length);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < kept.length; j++) column[j] = kept[j].weights[i];
    column.sort();
    out[i] = pick(column);
  }
  return out;
}

function median(sorted: Float64Array): number {
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function trimmedMean(beta: number) {
  return (sorted: Float64Array): number => {
    const cut = Math.floor(beta * sorted.length);
    let sum = 0;
    for (let j = cut; j < sorted.length - cut; j++) sum += sorted[j];
    return sum / (sorted.length - 2 * cut);
  };
}

/** Indices of the m updates with the lowest Krum scores (ties: the earlier), in folded order. */
export function krumSelection(kept: readonly { weights: ArrayLike<number> }[], f: number, m: number): number[] {
  const n = kept.length;
  const distances = Array.from({ length: n }, () => new Float64Array(n));
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const [x, y] = [kept[a].weights, kept[b].weights];
      let sum = 0;
      for (let i = 0; i < x.length; i++) sum += (x[i] - y[i]) ** 2;
      distances[a][b] = distances[b][a] = sum;
    }
  }
  const neighbours = Math.max(1, n - f - 2);
  const scores = distances.map((row, a) => {
    const others = Float64Array.from(row.filter((_, b) => b !== a)).sort();
    let score = 0;
    for (let j = 0; j < Math.min(neighbours, others.length); j++) score += others[j];
    return score;
  });
  const ranked = scores.map((score, index) => ({ score, index })).sort((p, q) => p.score - q.score || p.index - q.index);
  return ranked
    .slice(0, Math.min(m, n))
    .map((r) => r.index)
    .sort((p, q) => p - q);
}

const SCAFFOLD_PREFIX = 'c/';
const scaffoldKey = (participant: string) => `${SCAFFOLD_PREFIX}${participant}`;

/** SCAFFOLD's server control variate: the mean of the sites' c_i, summed in the order of their names. */
function meanControl(controls: ReadonlyMap<string, Float64Array>, size: number): Float64Array {
  const names = [...controls.keys()].sort();
  const server = new Float64Array(size);
  for (const name of names) {
    const ci = controls.get(name)!;
    for (let i = 0; i < server.length; i++) server[i] += ci[i];
  }
  for (let i = 0; i < server.length; i++) server[i] /= names.length;
  return server;
}

function scaffoldControls(state: StrategyState): Map<string, Float64Array> {
  const controls = new Map<string, Float64Array>();
  for (const [name, vector] of Object.entries(state)) if (name.startsWith(SCAFFOLD_PREFIX)) controls.set(name, vector);
  return controls;
}

export const STRATEGIES: { [N in StrategyName]: StrategyMaths<N> } = {
  fedavg: { begin: (spec, input) => averaging(spec, input, plainAverage), trainConfig: noConfig },
  fedprox: {
    begin: (spec, input) => averaging(spec, input, plainAverage),
    trainConfig: (spec) => ({ proximalMu: spec.mu }),
  },
  fedavgm: {
    begin: (spec, input) =>
      averaging(spec, input, (mean) => {
        const { global, state } = input;
        const delta = pseudoGradient(mean, global);
        const momentum = zeros(state, 'momentum', global.length);
        const next = new Float32Array(global.length);
        for (let i = 0; i < next.length; i++) {
          momentum[i] = spec.momentum * momentum[i] + delta[i];
          next[i] = global[i] + spec.serverLearningRate * momentum[i];
        }
        return { weights: next, state: { momentum } };
      }),
    trainConfig: noConfig,
  },
  fedadam: { begin: (spec, input) => averaging(spec, input, adaptive('adam', spec, input)), trainConfig: noConfig },
  fedyogi: { begin: (spec, input) => averaging(spec, input, adaptive('yogi', spec, input)), trainConfig: noConfig },
  fedadagrad: { begin: (spec, input) => averaging(spec, input, adaptive('adagrad', spec, input)), trainConfig: noConfig },
  scaffold: {
    /**
     * Option II of Karimireddy et al. 2020: c_i ← c_i − c + (x − y_i)/(K_i·η),
     * K_i = epochs·⌈n_i/B⌉ the steps site i took. The new c_i is a function of
     * the signed update, so the coordinator and the audit derive it without the
     * site sending it; c is the mean of every c_i known, x ← x + η_g·Δ.
     */
    begin: (spec, input) => {
      const { global, state, training } = input;
      const c = state.c ?? new Float64Array(global.length);
      const controls = scaffoldControls(state);
      return averaging(
        spec,
        input,
        (mean) => {
          const delta = pseudoGradient(mean, global);
          const next = new Float32Array(global.length);
          for (let i = 0; i < next.length; i++) next[i] = global[i] + spec.serverLearningRate * delta[i];
          return { weights: next, state: { ...Object.fromEntries(controls), c: meanControl(controls, global.length) } };
        },
        (update, weights) => {
          const key = scaffoldKey(update.participant);
          const ci = controls.get(key) ?? new Float64Array(global.length);
          const steps = training.localEpochs * Math.ceil(update.numSamples / training.batchSize);
          const scale = 1 / (steps * training.learningRate);
          const next = new Float64Array(global.length);
          for (let i = 0; i < next.length; i++) next[i] = ci[i] - c[i] + (global[i] - weights[i]) * scale;
          controls.set(key, next);
        },
      );
    },
    trainConfig: (_spec, state, participant) => {
      const c = state.c;
      if (!c) return {};
      const ci = state[scaffoldKey(participant)];
      const correction = new Float32Array(c.length);
      for (let i = 0; i < c.length; i++) correction[i] = c[i] - (ci ? ci[i] : 0);
      return { correction };
    },
    perParticipant: {
      held: (state) => [...scaffoldControls(state).keys()].map((key) => key.slice(SCAFFOLD_PREFIX.length)).sort(),
      /** A site that no longer takes part no longer steers the others: c is the mean of the remaining c_i, N one less. */
      without: (state, participants) => {
        const controls = scaffoldControls(state);
        for (const participant of participants) controls.delete(scaffoldKey(participant));
        const [first] = controls.values();
        return first ? { ...Object.fromEntries(controls), c: meanControl(controls, first.length) } : EMPTY_STATE;
      },
    },
  },
  median: { begin: (spec, input) => keeping(spec, input, (kept) => coordinateWise(kept, median)), trainConfig: noConfig },
  'trimmed-mean': {
    begin: (spec, input) => keeping(spec, input, (kept) => coordinateWise(kept, trimmedMean(spec.beta))),
    trainConfig: noConfig,
  },
  krum: {
    begin: (spec, input) =>
      keeping(spec, input, (kept) => {
        const average = new WeightedAverage(input.global.length);
        for (const index of krumSelection(kept, spec.f, spec.m)) {
          average.add(kept[index].weights, spec.weighting === 'uniform' ? 1 : kept[index].numSamples);
        }
        return average.result()!;
      }),
    trainConfig: noConfig,
  },
  kmeans: { begin: kmeans, trainConfig: noConfig },
};

/**
 * k-means (shared/src/model/kmeans.ts): a Lloyd round is a plain sum of the
 * updates, weight 1 each and in float64, so that it can be computed from masked
 * updates just as well; the initialisation round keeps the sites' candidate
 * centres, which the reduction needs one by one.
 */
function kmeans(spec: StrategyOf<'kmeans'>, input: AggregationInput): Aggregator {
  const { global } = input;
  const layout = { k: spec.k, d: global.length / spec.k - 1 };
  if (!Number.isInteger(layout.d) || layout.d < 1) throw new Error(`a k-means model of ${global.length} values does not hold ${spec.k} centres`);
  const initialising = !kmeansInitialised(global, layout);
  const sum = new Float64Array(global.length);
  const candidates: Float32Array[] = [];
  let added = 0;
  return {
    add(update) {
      checkSize(global, update);
      added++;
      if (initialising) candidates.push(update.weights);
      else for (let i = 0; i < sum.length; i++) sum[i] += update.weights[i];
    },
    result: () => (added === 0 ? null : { weights: kmeansStep(global, layout, sum, candidates), state: EMPTY_STATE }),
  };
}

/** The aggregation of one round under a strategy. */
export function beginAggregation(spec: StrategySpec, input: AggregationInput): Aggregator {
  return (STRATEGIES[spec.name] as StrategyMaths<StrategyName>).begin(spec as never, input);
}

/** What a participant trains with in the next round, given the state the last round left. */
export function trainConfigOf(spec: StrategySpec, state: StrategyState, participant: string): TrainConfig {
  return (STRATEGIES[spec.name] as StrategyMaths<StrategyName>).trainConfig(spec as never, state, participant);
}

/** The participants a strategy's state keeps something of (SCAFFOLD's c_i), sorted; none for most strategies. */
export function participantsHeld(spec: StrategySpec, state: StrategyState): string[] {
  return (STRATEGIES[spec.name] as StrategyMaths<StrategyName>).perParticipant?.held(state) ?? [];
}

/**
 * The state without what it keeps of participants revoked before it was
 * committed, as the next round starts from it (its commit record names them);
 * the state itself when the strategy keeps nothing of theirs.
 */
export function withoutParticipants(spec: StrategySpec, state: StrategyState, participants: Iterable<string>): StrategyState {
  const names = new Set(participants);
  const perParticipant = (STRATEGIES[spec.name] as StrategyMaths<StrategyName>).perParticipant;
  return perParticipant && names.size > 0 ? perParticipant.without(state, names) : state;
}

/** A whole round at once: the updates in the order they were folded in. */
export function aggregate(spec: StrategySpec, input: AggregationInput, updates: Iterable<StrategyUpdate>): Aggregate | null {
  const aggregator = beginAggregation(spec, input);
  for (const update of updates) aggregator.add(update);
  return aggregator.result();
}
