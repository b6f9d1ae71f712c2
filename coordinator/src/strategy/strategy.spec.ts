import { encodeWeights, sha256Hex, type JobSpec, type LocalStatistics } from '@fl/shared';
import { fedAvg } from './fedavg';
import { combineStatistics, statisticsMatchSpec } from './statistics';

describe('FedAvg', () => {
  it('weights each model by its sample count', () => {
    const round = fedAvg.begin(new Float32Array(2));
    round.add({ participant: 'a', weights: new Float32Array([1, 10]), numSamples: 1, metrics: { trainLoss: 0.4 } });
    round.add({ participant: 'b', weights: new Float32Array([4, 20]), numSamples: 3, metrics: { trainLoss: 0.8 } });
    const result = round.result()!;
    // (1*1 + 4*3) / 4 = 3.25 ; (10*1 + 20*3) / 4 = 17.5 ; loss (0.4 + 2.4) / 4 = 0.7
    expect(Array.from(result.weights)).toEqual([3.25, 17.5]);
    expect(result.metrics.trainLoss).toBeCloseTo(0.7);
    expect(result.numSamples).toBe(4);
  });

  it('names the new model by the SHA-256 of its bytes', () => {
    const round = fedAvg.begin(new Float32Array(3));
    round.add({ participant: 'a', weights: Float32Array.of(1, 2, 3), numSamples: 2, metrics: {} });
    round.add({ participant: 'b', weights: Float32Array.of(-1, 0, 0.5), numSamples: 3, metrics: {} });
    const result = round.result()!;
    expect(result.sha256).toBe(sha256Hex(encodeWeights(result.weights)));
  });

  it('returns null when no update came, so the previous model stays', () => {
    expect(fedAvg.begin(new Float32Array(3)).result()).toBeNull();
  });

  it('refuses an update of another size', () => {
    const round = fedAvg.begin(new Float32Array(3));
    expect(() => round.add({ participant: 'a', weights: new Float32Array(2), numSamples: 1, metrics: {} })).toThrow();
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

  it('takes the second class in sorted order as positive unless the job names one', () => {
    const stats = [site([1], [], [['good', 1], ['bad', 1]])];
    expect(combineStatistics(spec, stats).target).toEqual({ type: 'binary', classes: ['bad', 'good'] });
    expect(combineStatistics({ ...spec, positiveClass: 'bad' }, stats).target).toEqual({
      type: 'binary',
      classes: ['good', 'bad'],
    });
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
