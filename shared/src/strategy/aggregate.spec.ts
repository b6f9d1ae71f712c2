/**
 * Each strategy on fixtures small enough to check by hand: a global model of
 * two parameters at the origin, and updates whose averages are round numbers.
 */
import { aggregate, krumSelection, participantsHeld, trainConfigOf, withoutParticipants, type AggregationInput, type StrategyUpdate } from './aggregate';
import { StrategySpecSchema, type StrategySpecInput } from './spec';
import { decodeState, EMPTY_STATE, encodeState, stateDigest, type StrategyState } from './state';

const training = { learningRate: 0.1, localEpochs: 1, batchSize: 1 };
const input = (global: number[], state: StrategyState = EMPTY_STATE): AggregationInput => ({ global: Float32Array.from(global), state, training });
const update = (participant: string, weights: number[], numSamples = 1): StrategyUpdate => ({ participant, weights: Float32Array.from(weights), numSamples });
const spec = (s: StrategySpecInput) => StrategySpecSchema.parse(s);
const run = (s: StrategySpecInput, i: AggregationInput, updates: StrategyUpdate[]) => aggregate(spec(s), i, updates)!;
const values = (a: ArrayLike<number>) => Array.from(a);

// a: [1, 2] from 1 sample; b: [3, 6] from 3 samples.
const ab = [update('a', [1, 2], 1), update('b', [3, 6], 3)];

describe('strategy specs', () => {
  it('fills in each strategy’s defaults and refuses unknown names and parameters', () => {
    expect(spec({ name: 'fedavgm' })).toEqual({ name: 'fedavgm', weighting: 'samples', serverLearningRate: 1, momentum: 0.9 });
    expect(spec({ name: 'krum', f: 1 })).toMatchObject({ f: 1, m: 1 });
    expect(StrategySpecSchema.safeParse({ name: 'fedsgd' }).success).toBe(false);
    expect(StrategySpecSchema.safeParse({ name: 'fedprox', momentum: 0.9 }).success).toBe(false);
    expect(StrategySpecSchema.safeParse({ name: 'trimmed-mean', beta: 0.5 }).success).toBe(false);
    expect(StrategySpecSchema.safeParse({ name: 'median', weighting: 'samples' }).success).toBe(false);
  });
});

describe('fedavg', () => {
  it('weights by sample count: (1·1 + 3·3)/4 = 2.5, (2·1 + 6·3)/4 = 5', () => {
    expect(values(run({ name: 'fedavg' }, input([0, 0]), ab).weights)).toEqual([2.5, 5]);
  });

  it('or uniformly: (1 + 3)/2 = 2, (2 + 6)/2 = 4', () => {
    expect(values(run({ name: 'fedavg', weighting: 'uniform' }, input([0, 0]), ab).weights)).toEqual([2, 4]);
  });

  it('bounds each difference from the global model: both clipped to (1, 2)/√5', () => {
    const result = run({ name: 'fedavg', clipNorm: 1 }, input([0, 0]), ab);
    expect(result.weights[0]).toBeCloseTo(1 / Math.sqrt(5), 6);
    expect(result.weights[1]).toBeCloseTo(2 / Math.sqrt(5), 6);
  });

  it('leaves an update within the bound as it is, and keeps no state', () => {
    const result = run({ name: 'fedavg', clipNorm: 100 }, input([0, 0]), ab);
    expect(values(result.weights)).toEqual([2.5, 5]);
    expect(result.state).toEqual({});
  });

  it('gives nothing without updates, and refuses an update of another size', () => {
    expect(aggregate(spec({ name: 'fedavg' }), input([0, 0]), [])).toBeNull();
    expect(() => aggregate(spec({ name: 'fedavg' }), input([0, 0]), [update('a', [1])])).toThrow(/size/);
  });
});

describe('fedprox', () => {
  it('averages as FedAvg does and sends μ to every participant', () => {
    expect(values(run({ name: 'fedprox', mu: 0.5 }, input([0, 0]), ab).weights)).toEqual([2.5, 5]);
    expect(trainConfigOf(spec({ name: 'fedprox', mu: 0.5 }), EMPTY_STATE, 'a')).toEqual({ proximalMu: 0.5 });
  });
});

describe('fedavgm', () => {
  it('steps along momentum: m = Δ first, then β·m + Δ', () => {
    const s = { name: 'fedavgm', momentum: 0.5 } as const;
    const first = run(s, input([0, 0]), ab);
    // Δ = (2.5, 5); m = Δ; x = 0 + 1·m
    expect(values(first.weights)).toEqual([2.5, 5]);
    expect(values(first.state.momentum)).toEqual([2.5, 5]);
    // next round every update is x + (1, 1): Δ = (1, 1), m = 0.5·(2.5, 5) + (1, 1) = (2.25, 3.5), x = (4.75, 8.5)
    const second = run(s, input([2.5, 5], first.state), [update('a', [3.5, 6]), update('b', [3.5, 6])]);
    expect(values(second.state.momentum)).toEqual([2.25, 3.5]);
    expect(values(second.weights)).toEqual([4.75, 8.5]);
  });
});

describe('adaptive server optimisers', () => {
  // Their first step is η in the direction of Δ: m/√v = (1−β1)Δ / √((1−β2)Δ²) = 1 with β1 = 0.9, β2 = 0.99.
  it.each(['fedadam', 'fedyogi', 'fedadagrad'] as const)('%s: the first step is η·sign(Δ)', (name) => {
    const result = run({ name, serverLearningRate: 0.1, tau: 1e-9 }, input([0, 0]), ab);
    expect(result.weights[0]).toBeCloseTo(0.1, 6);
    expect(result.weights[1]).toBeCloseTo(0.1, 6);
  });

  it('fedadam: m = 0.9·m + 0.1·Δ, v = 0.99·v + 0.01·Δ² across rounds', () => {
    const s = { name: 'fedadam', serverLearningRate: 0.1, tau: 1e-9 } as const;
    const first = run(s, input([0, 0]), ab);
    expect(values(first.state.m)).toEqual([0.25, 0.5].map((v) => expect.closeTo(v, 12)));
    expect(first.state.v[0]).toBeCloseTo(0.0625, 12);
    // Δ = (1, 1) from x = (0, 0): m = 0.9·0.25 + 0.1 = 0.325, v = 0.99·0.0625 + 0.01 = 0.071875, step 0.1·0.325/√0.071875 = 0.121225
    const second = run(s, input([0, 0], first.state), [update('a', [1, 1])]);
    expect(second.state.m[0]).toBeCloseTo(0.325, 12);
    expect(second.state.v[0]).toBeCloseTo(0.071875, 12);
    expect(second.weights[0]).toBeCloseTo(0.121225, 5);
  });

  it('fedyogi: v moves by (1−β2)·Δ² towards Δ² only; fedadagrad: v sums Δ²', () => {
    const state = { m: Float64Array.of(0, 0), v: Float64Array.of(4, 0) };
    // v = 4 > Δ² = 1: yogi v = 4 − 0.01·1 = 3.99; adagrad v = 4 + 1 = 5
    const yogi = run({ name: 'fedyogi', tau: 1e-9 }, input([0, 0], state), [update('a', [1, 1])]);
    expect(yogi.state.v[0]).toBeCloseTo(3.99, 12);
    const adagrad = run({ name: 'fedadagrad', tau: 1e-9, serverLearningRate: 1 }, input([0, 0], { v: state.v }), [update('a', [1, 1])]);
    expect(adagrad.state.v[0]).toBeCloseTo(5, 12);
    expect(adagrad.weights[0]).toBeCloseTo(1 / Math.sqrt(5), 6);
  });
});

describe('scaffold', () => {
  it('derives each site’s control variate from its update: c_i = c_i − c + (x − y_i)/(K_i·η)', () => {
    // lr 0.1, batches of 1: a took K = 1 step, b K = 2. c_a = −(1, 2)/0.1 = (−10, −20); c_b = −(3, 6)/0.2 = (−15, −30)
    const result = run({ name: 'scaffold' }, input([0, 0]), [update('a', [1, 2], 1), update('b', [3, 6], 2)]);
    expect(values(result.state['c/a'])).toEqual([-10, -20]);
    expect(values(result.state['c/b'])).toEqual([-15, -30]);
    expect(values(result.state.c)).toEqual([-12.5, -25]);
    // x = (1·(1, 2) + 2·(3, 6))/3 = (7/3, 14/3)
    expect(result.weights[0]).toBeCloseTo(7 / 3, 6);
    // Each site corrects its steps by c − c_i; a site never seen by c − 0.
    const s = spec({ name: 'scaffold' });
    expect(values(trainConfigOf(s, result.state, 'a').correction!)).toEqual([-2.5, -5]);
    expect(values(trainConfigOf(s, result.state, 'b').correction!)).toEqual([2.5, 5]);
    expect(values(trainConfigOf(s, result.state, 'new').correction!)).toEqual([-12.5, -25]);
    expect(trainConfigOf(s, EMPTY_STATE, 'a')).toEqual({});
  });

  it('keeps the control variates of sites absent from a round', () => {
    const first = run({ name: 'scaffold' }, input([0, 0]), [update('a', [1, 2], 1), update('b', [3, 6], 2)]);
    // only a, again 1 step from x = 0 to (1, 2): c_a = (−10, −20) − (−12.5, −25) + (−10, −20) = (−7.5, −15)
    const second = run({ name: 'scaffold' }, input([0, 0], first.state), [update('a', [1, 2], 1)]);
    expect(values(second.state['c/a'])).toEqual([-7.5, -15]);
    expect(values(second.state['c/b'])).toEqual([-15, -30]);
    expect(values(second.state.c)).toEqual([-11.25, -22.5]);
  });

  it('drops the control variate of a site revoked since: c is the mean of the others’, N one less', () => {
    const s = spec({ name: 'scaffold' });
    const first = run({ name: 'scaffold' }, input([0, 0]), [update('b', [3, 6], 2), update('a', [1, 2], 1)]);
    expect(participantsHeld(s, first.state)).toEqual(['a', 'b']);
    // Without b: c = c_a = (−10, −20), so a is no longer corrected, and a new site is steered by a's alone.
    const withoutB = withoutParticipants(s, first.state, ['b']);
    expect(Object.keys(withoutB).sort()).toEqual(['c', 'c/a']);
    expect(values(withoutB.c)).toEqual([-10, -20]);
    expect(values(trainConfigOf(s, withoutB, 'a').correction!)).toEqual([0, 0]);
    expect(values(trainConfigOf(s, withoutB, 'new').correction!)).toEqual([-10, -20]);
    // The next round starts from it: a's c_i = (−10, −20) − (−10, −20) + (−10, −20), c the mean of a's alone.
    const second = run({ name: 'scaffold' }, input([0, 0], withoutB), [update('a', [1, 2], 1)]);
    expect(Object.keys(second.state).sort()).toEqual(['c', 'c/a']);
    expect(values(second.state.c)).toEqual([-10, -20]);
    // Without every site there is nothing to correct with; a site it never held changes nothing.
    expect(withoutParticipants(s, first.state, ['a', 'b'])).toEqual(EMPTY_STATE);
    expect(stateDigest(withoutParticipants(s, first.state, ['stranger']))).toBe(stateDigest(first.state));
  });

  it('is the only strategy that keeps something per site: the others hold nobody, and their state stays as it is', () => {
    const s = spec({ name: 'fedavgm' });
    const state = { momentum: Float64Array.of(1, 2) };
    expect(participantsHeld(s, state)).toEqual([]);
    expect(withoutParticipants(s, state, ['a'])).toBe(state);
  });
});

describe('robust strategies', () => {
  it('median: per coordinate, the middle value, or the mean of the two middle ones', () => {
    expect(values(run({ name: 'median' }, input([0, 0]), [update('a', [1, 30]), update('b', [3, 20]), update('c', [10, 10], 1000)]).weights)).toEqual([3, 20]);
    expect(values(run({ name: 'median' }, input([0]), [update('a', [1]), update('b', [3]), update('c', [10]), update('d', [20])]).weights)).toEqual([6.5]);
  });

  it('trimmed-mean: drops ⌊β·n⌋ values at each end: β 0.2 of (1, 2, 3, 4, 100) is the mean of (2, 3, 4)', () => {
    const updates = [1, 2, 3, 100, 4].map((v, i) => update(`p${i}`, [v]));
    expect(values(run({ name: 'trimmed-mean', beta: 0.2 }, input([0]), updates).weights)).toEqual([3]);
    expect(values(run({ name: 'trimmed-mean', beta: 0 }, input([0]), updates).weights)).toEqual([22]);
  });

  it('trimmed-mean by default trims one update at each end of five, as a consortium of five sites expects', () => {
    const updates = [1, 2, 3, 100, 4].map((v, i) => update(`p${i}`, [v]));
    expect(values(run({ name: 'trimmed-mean' }, input([0]), updates).weights)).toEqual([3]);
  });

  it('krum: the update closest to its n − f − 2 nearest others; multi-Krum averages the m best', () => {
    // (0, 1, 2, 3, 100), f = 1: 2 neighbours each; scores 0: 1+4, 1: 1+1, 2: 1+1, 3: 1+4, 100: 97²+98²
    const updates = [0, 1, 2, 3, 100].map((v, i) => update(`p${i}`, [v]));
    expect(krumSelection(updates, 1, 1)).toEqual([1]);
    expect(values(run({ name: 'krum', f: 1 }, input([0]), updates).weights)).toEqual([1]);
    // m = 3: 1 and 2, then the earlier of the tied 0 and 3
    expect(krumSelection(updates, 1, 3)).toEqual([0, 1, 2]);
    expect(values(run({ name: 'krum', f: 1, m: 3 }, input([0]), updates).weights)).toEqual([1]);
  });

  it('clipping applies to them too: the outlier 100 is brought to 1', () => {
    const updates = [0, 1, 100].map((v, i) => update(`p${i}`, [v]));
    expect(values(run({ name: 'trimmed-mean', beta: 0, clipNorm: 1 }, input([0]), updates).weights)).toEqual([Math.fround(2 / 3)]);
  });
});

describe('strategy state', () => {
  it('encodes losslessly, sorted by name, so that its digest names it', () => {
    const state = { v: Float64Array.of(0.1, -1e300), m: Float64Array.of(Math.PI) };
    const decoded = decodeState(encodeState(state))!;
    expect(Object.keys(decoded)).toEqual(['m', 'v']);
    expect(values(decoded.v)).toEqual([0.1, -1e300]);
    expect(stateDigest(decoded)).toBe(stateDigest({ m: state.m, v: state.v }));
    expect(stateDigest(state)).not.toBe(stateDigest({ ...state, m: Float64Array.of(3) }));
  });

  it('refuses bytes that are not a state', () => {
    const bytes = encodeState({ m: Float64Array.of(1) });
    expect(decodeState(bytes.subarray(0, bytes.byteLength - 1))).toBeNull();
    expect(decodeState(Buffer.from('nonsense'))).toBeNull();
    expect(decodeState(encodeState(EMPTY_STATE))).toEqual({});
  });
});
