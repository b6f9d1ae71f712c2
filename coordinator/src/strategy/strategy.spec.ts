import { EMPTY_STATE, JobSpecSchema, StrategySpecSchema, type JobSpec, type LocalStatistics } from '@fl/shared';
import { createStrategy, fedAvg } from './fedavg';
import { MAX_ABS_WEIGHT, implausibleWeights } from './plausibility';
import { admitStatistics, combineStatistics, statisticsMatchSpec } from './statistics';

describe('a job strategy', () => {
  it('FedAvg weights each model by its sample count, and the metrics by counts capped at their median', () => {
    const round = fedAvg.aggregateTrain(new Float32Array(2), EMPTY_STATE);
    round.add({ participant: 'a', weights: new Float32Array([1, 10]), numSamples: 1, metrics: { trainLoss: 0.4 } });
    round.add({ participant: 'b', weights: new Float32Array([4, 20]), numSamples: 3, metrics: { trainLoss: 0.8 } });
    const result = round.result()!;
    // (1*1 + 4*3) / 4 = 3.25 ; (10*1 + 20*3) / 4 = 17.5 ; loss with both counts capped at the lower median 1: (0.4 + 0.8) / 2 = 0.6
    expect(Array.from(result.weights)).toEqual([3.25, 17.5]);
    expect(result.metrics.trainLoss).toBeCloseTo(0.6);
    expect(result.numSamples).toBe(4);
    expect(result.state).toEqual({});
  });

  it('returns null when no update came, so the previous model stays', () => {
    expect(fedAvg.aggregateTrain(new Float32Array(3), EMPTY_STATE).result()).toBeNull();
  });

  it('refuses an update of another size', () => {
    const round = fedAvg.aggregateTrain(new Float32Array(3), EMPTY_STATE);
    expect(() => round.add({ participant: 'a', weights: new Float32Array(2), numSamples: 1, metrics: {} })).toThrow();
  });

  it('asks every available participant, each with its per-round config', () => {
    const training = { learningRate: 0.1, localEpochs: 1, batchSize: 1 };
    const prox = createStrategy(StrategySpecSchema.parse({ name: 'fedprox', mu: 0.1 }), training);
    const instructions = prox.configureTrain(1, ['a', 'b'], EMPTY_STATE);
    expect(instructions.participants).toEqual(['a', 'b']);
    expect(instructions.config('a')).toEqual({ proximalMu: 0.1 });
    // SCAFFOLD's state carries a control variate per site: each gets its own correction c − c_i.
    const scaffold = createStrategy(StrategySpecSchema.parse({ name: 'scaffold' }), training);
    const round = scaffold.aggregateTrain(Float32Array.of(0), EMPTY_STATE);
    round.add({ participant: 'a', weights: Float32Array.of(1), numSamples: 1, metrics: {} });
    round.add({ participant: 'b', weights: Float32Array.of(2), numSamples: 1, metrics: {} });
    const { state } = round.result()!;
    // c_a = −1/0.1 = −10, c_b = −20, c = −15
    const next = scaffold.configureTrain(2, ['a', 'b'], state);
    expect(Array.from(next.config('a').correction!)).toEqual([-5]);
    expect(Array.from(next.config('b').correction!)).toEqual([5]);
  });

  describe('k-means, with clusters the sites suppressed (minClusterRows)', () => {
    const kmeans = createStrategy(StrategySpecSchema.parse({ name: 'kmeans', k: 3 }), { learningRate: 0.1, localEpochs: 1, batchSize: 32 });
    // Three centres in two dimensions, then the clusters' shares of the job's 10 rows.
    const global = Float32Array.from([0, 0, 10, 10, 20, 20, 0.4, 0.4, 0.2]);
    const round = (updates: number[][]) => {
      const aggregation = kmeans.aggregateTrain(global, EMPTY_STATE);
      updates.forEach((weights, i) => aggregation.add({ participant: `s${i}`, weights: Float32Array.from(weights), numSamples: 5, metrics: { trainLoss: 1 } }));
      return aggregation.result()!;
    };

    it('keeps the centre of a cluster every site sent as zero, moving the others', () => {
      // Each site sends the third cluster's sums and count as zero.
      const result = round([
        [1 / 10, 1 / 10, 20 / 10, 22 / 10, 0, 0, 2 / 10, 2 / 10, 0],
        [1 / 10, 3 / 10, 22 / 10, 20 / 10, 0, 0, 2 / 10, 2 / 10, 0],
      ]);
      expect(Array.from(result.weights.subarray(0, 6))).toEqual([0.5, 1, 10.5, 10.5, 20, 20].map(Math.fround));
      expect(Array.from(result.weights.subarray(6))).toEqual([0.4, 0.4, 0].map(Math.fround));
      // The round's rows per cluster are the rows the sites trained on, by the clusters' shares sent.
      expect(result.metrics).toMatchObject({ clusterRows1: 5, clusterRows2: 5, clusterRows3: 0 });
    });

    it('keeps the model, still initialised, when every site sent every cluster as zero', () => {
      const result = round([new Array(9).fill(0), new Array(9).fill(0)]);
      expect(Array.from(result.weights)).toEqual(Array.from(global));
      expect(result.weights.every(Number.isFinite)).toBe(true);
      // No row was counted in a cluster: the round reports no rows per cluster, not the last round's shares.
      expect(Object.keys(result.metrics)).toEqual(['trainLoss']);
    });
  });

  it('weights evaluations by their examples, each count capped at the lower median', () => {
    const evaluation = fedAvg.aggregateEvaluate(
      new Map([
        ['a', { numExamples: 2, metrics: { accuracy: 1 } }],
        ['b', { numExamples: 3, metrics: { accuracy: 0.5 } }],
        ['c', { numExamples: 1000, metrics: { accuracy: 0 } }],
      ]),
    );
    // counts 2, 3, 1000 capped at 3: (2 * 1 + 3 * 0.5 + 3 * 0) / 8 = 0.4375
    expect(evaluation).toEqual({ metrics: { accuracy: 0.4375 }, numExamples: 1005, participants: ['a', 'b', 'c'] });
  });
});

describe('combining statistics', () => {
  const spec = {
    model: 'logistic',
    target: 'status',
    features: [
      { name: 'age', type: 'numeric' },
      { name: 'home', type: 'categorical' },
    ],
  } as JobSpec;

  const site = (ages: number[], homes: [string, number][], labels: [string, number][]): LocalStatistics => ({
    rows: ages.length,
    features: [
      {
        name: 'age',
        type: 'numeric',
        count: ages.length,
        sum: ages.reduce((a, b) => a + b, 0),
        sumSquares: ages.reduce((a, b) => a + b * b, 0),
        missing: 0,
      },
      { name: 'home', type: 'categorical', counts: homes, missing: 0 },
    ],
    target: { type: 'categorical', counts: labels },
  });

  it('gives the pooled mean and standard deviation', () => {
    // pooled ages 2, 4, 4, 4, 5, 5, 7, 9: mean 5, population std 2
    const p = combineStatistics(spec, [
      site([2, 4, 4, 4], [['own', 4]], [['good', 4]]),
      site([5, 5, 7, 9], [['rent', 4]], [['bad', 4]]),
    ]);
    expect(p.features[0]).toEqual({ name: 'age', type: 'numeric', mean: 5, std: 2 });
  });

  it('unites the vocabularies, sorted, and counts one unknown level per category', () => {
    const p = combineStatistics(spec, [
      site([1], [['rent', 1]], [['good', 1]]),
      site([1], [['own', 1], ['parents', 2]], [['bad', 1]]),
    ]);
    expect(p.features[1]).toEqual({ name: 'home', type: 'categorical', vocabulary: ['own', 'parents', 'rent'] });
    expect(p.inputDim).toBe(1 + 3 + 1);
    expect(p.rows).toBe(2);
  });

  it('keeps declared categories only, those seen: a value outside them is the unknown level', () => {
    const declared = { ...spec, features: spec.features.map((f) => (f.type === 'categorical' ? { ...f, categories: ['own', 'rent', 'castle'] } : f)) };
    const p = combineStatistics(declared, [site([1], [['rent', 1]], [['good', 1]]), site([1], [['own', 1], ['parents', 2]], [['bad', 1]])]);
    expect(p.features[1]).toEqual({ name: 'home', type: 'categorical', vocabulary: ['own', 'rent'] });
  });

  it('takes the second class in sorted order as positive unless the job names one', () => {
    const stats = [site([1], [], [['good', 1], ['bad', 1]])];
    expect(combineStatistics(spec, stats).target).toEqual({ type: 'binary', classes: ['bad', 'good'] });
    expect(combineStatistics({ ...spec, positiveClass: 'bad' }, stats).target).toEqual({
      type: 'binary',
      classes: ['good', 'bad'],
    });
  });

  it('takes no class or category from a count of zero', () => {
    const p = combineStatistics(spec, [site([1, 2], [['own', 2], ['castle', 0]], [['good', 1], ['bad', 1], ['maybe', 0]])]);
    expect(p.target).toEqual({ type: 'binary', classes: ['bad', 'good'] });
    expect(p.features[1]).toMatchObject({ vocabulary: ['own'] });
  });

  it('keeps the two most frequent classes when one site has a stray value, so the job goes on', () => {
    const stats = [site([1], [], [['bad', 40], ['good', 60]]), site([1], [], [['bad', 10], ['good ', 1], ['good', 9]])];
    expect(combineStatistics(spec, stats).target).toEqual({ type: 'binary', classes: ['bad', 'good'] });
    // A named positive class is kept even when rarer than a stray value.
    const rare = [site([1], [], [['bad', 50], ['good', 2], ['maybe', 3]])];
    expect(combineStatistics({ ...spec, positiveClass: 'good' }, rare).target).toEqual({ type: 'binary', classes: ['bad', 'good'] });
  });

  it('refuses a logistic target that does not have two classes', () => {
    expect(() => combineStatistics(spec, [site([1], [], [['good', 1]])])).toThrow(/exactly 2 classes/);
  });

  it('standardizes a numeric target for linear models, with std 1 when constant', () => {
    const linear = { ...spec, model: 'linear' } as JobSpec;
    const stats = site([1], [], []);
    stats.target = { type: 'numeric', count: 2, sum: 6, sumSquares: 18 };
    expect(combineStatistics(linear, [stats]).target).toEqual({ type: 'numeric', mean: 3, std: 1 });
  });

  it('checks that statistics follow the job schema', () => {
    const good = site([1], [], [['a', 1]]);
    expect(statisticsMatchSpec(good, spec)).toBeNull();
    expect(statisticsMatchSpec({ ...good, features: good.features.slice(1) }, spec)).toMatch(/one entry per/);
    expect(statisticsMatchSpec({ ...good, features: [good.features[1], good.features[0]] }, spec)).toMatch(/feature 0/);
  });
});

describe('admitting statistics', () => {
  const spec = JobSpecSchema.parse({ model: 'logistic', target: 'y', features: [{ name: 'x', type: 'numeric' }, { name: 'c', type: 'categorical' }] });
  /** A site of n rows whose x values have the given mean and population deviation. */
  const site = (n: number, mean: number, std: number, labels: [string, number][] = [['no', n / 2], ['yes', n / 2]]): LocalStatistics => ({
    rows: n,
    features: [
      { name: 'x', type: 'numeric', count: n, sum: mean * n, sumSquares: n * (std * std + mean * mean), missing: 0 },
      { name: 'c', type: 'categorical', counts: [['u', n - 1]], missing: 1 },
    ],
    target: { type: 'categorical', counts: labels },
  });
  const admit = (sites: Record<string, LocalStatistics>, s = spec) => {
    const { admitted, excluded } = admitStatistics(s, new Map(Object.entries(sites)));
    return { admitted: [...admitted.keys()], excluded: excluded.map((e) => `${e.participant} ${e.code}`) };
  };

  it('admits honest sites, however different their means and spreads within a thousand of their typical spread', () => {
    expect(admit({ a: site(10, 0, 1), b: site(20, 5, 2), c: site(4, -40, 0.5), d: site(2, 0, 0) })).toEqual({ admitted: ['a', 'b', 'c', 'd'], excluded: [] });
  });

  it.each([
    ['sums of 1e300', (s: LocalStatistics) => ({ ...s, features: [{ ...s.features[0], sum: 1e300, sumSquares: 1e300 }, s.features[1]] })],
    ['a sum of squares no values can have', (s: LocalStatistics) => ({ ...s, features: [{ ...s.features[0], sum: 100, sumSquares: 1 }, s.features[1]] })],
    ['values and missing values that do not add up', (s: LocalStatistics) => ({ ...s, rows: s.rows + 1 })],
    ['category counts that do not add up', (s: LocalStatistics) => ({ ...s, features: [s.features[0], { name: 'c', type: 'categorical', counts: [['u', 1e6]], missing: 0 }] })],
  ] as const)('leaves out a site reporting %s', (_, change) => {
    const bad = change(site(10, 0, 1)) as LocalStatistics;
    expect(admit({ a: site(10, 0, 1), b: site(10, 1, 1), m: bad }).excluded).toEqual(['m IMPLAUSIBLE_STATISTICS']);
  });

  it("leaves out a site whose mean sits over a thousand typical deviations from the sites' median, when three compare", () => {
    const sites = { a: site(10, 0, 1), b: site(10, 1, 2), m: site(10, 5000, 1) };
    expect(admit(sites).excluded).toEqual(['m IMPLAUSIBLE_STATISTICS']);
    // with one other site, there is no telling which of the two is wrong
    expect(admit({ a: sites.a, m: sites.m }).excluded).toEqual([]);
  });

  it('takes no rounding noise of a constant column for a spread', () => {
    // a column of 1e6 everywhere: the deviations are rounding noise, one of them larger than the others
    expect(admit({ a: site(10, 1e6, 0), b: site(10, 1e6, 0), c: site(10, 1e6, 1e-5), d: site(10, 1e6, 0.01) }).excluded).toEqual([]);
  });

  it('leaves out a site claiming more rows than the job allows per site', () => {
    const limited = { ...spec, maxRowsPerParticipant: 15 };
    expect(admit({ a: site(10, 0, 1), m: site(20, 0, 1) }, limited).excluded).toEqual(['m IMPLAUSIBLE_SAMPLES']);
  });

  it('keeps the two classes most sites report for a logistic target, leaving out a site with a third', () => {
    const third = site(10, 0, 1, [['no', 4], ['yes', 4], ['maybe', 2]]);
    expect(admit({ a: site(10, 0, 1), b: site(10, 0, 1, [['yes', 10]]), m: third })).toEqual({ admitted: ['a', 'b'], excluded: ['m UNDECLARED_CLASS'] });
    // a tie for second place leaves everyone in: combining then names the classes
    expect(admit({ a: site(10, 0, 1, [['no', 10]]), m: third }).excluded).toEqual([]);
  });

  it("leaves out a site reporting a class outside the job's declared classes", () => {
    const declared = JobSpecSchema.parse({ ...spec, model: 'softmax', classes: ['no', 'yes', 'later'] });
    expect(admit({ a: site(10, 0, 1), m: site(10, 0, 1, [['no', 5], ['other', 5]]) }, declared).excluded).toEqual(['m UNDECLARED_CLASS']);
  });
});

describe('the classes a job declares', () => {
  const base = { target: 'y', features: [{ name: 'x', type: 'numeric' }] };
  it('must fit the model kind and name the positive class', () => {
    expect(JobSpecSchema.safeParse({ ...base, model: 'logistic', classes: ['a', 'b'], positiveClass: 'a' }).success).toBe(true);
    expect(JobSpecSchema.safeParse({ ...base, model: 'logistic', classes: ['a', 'b', 'c'] }).error?.issues[0].message).toMatch(/exactly 2 classes/);
    expect(JobSpecSchema.safeParse({ ...base, model: 'logistic', classes: ['a', 'b'], positiveClass: 'c' }).error?.issues[0].message).toMatch(/not one of the classes/);
    expect(JobSpecSchema.safeParse({ ...base, model: 'linear', classes: ['a', 'b'] }).error?.issues[0].message).toMatch(/numeric target/);
    expect(JobSpecSchema.safeParse({ ...base, model: 'softmax', classes: ['a', 'a'] }).error?.issues[0].message).toMatch(/must differ/);
  });
});

describe('plausible weights', () => {
  it('accepts weights within ±MAX_ABS_WEIGHT and names the first that is not finite or beyond', () => {
    expect(implausibleWeights(Float32Array.of(0, -MAX_ABS_WEIGHT, MAX_ABS_WEIGHT, 123.5))).toBeNull();
    expect(implausibleWeights(Float32Array.of(0, NaN))).toEqual({ code: 'NON_FINITE', reason: 'weight 1 is NaN' });
    expect(implausibleWeights(Float32Array.of(-Infinity))).toEqual({ code: 'NON_FINITE', reason: 'weight 0 is -Infinity' });
    expect(implausibleWeights(Float32Array.of(1, 3e38))?.code).toBe('IMPLAUSIBLE_WEIGHTS');
    expect(implausibleWeights(new Float32Array(4).fill(-1e30))?.code).toBe('IMPLAUSIBLE_WEIGHTS');
  });
});
