import { encodeWeights, PARALLEL_DIGEST_MIN_BYTES, sha256Hex, type JobSpec, type LocalStatistics } from '@fl/shared';
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

  it('has read every update by the next one, so that it holds at most one besides the running sum', () => {
    const round = fedAvg.begin(new Float32Array(1));
    const first = new Float32Array([2]);
    const second = new Float32Array([4]);
    round.add({ participant: 'a', weights: first, numSamples: 1, metrics: {} });
    round.add({ participant: 'b', weights: second, numSamples: 1, metrics: {} });
    first[0] = 100;
    second[0] = 100;
    expect(round.result()!.weights[0]).toBe(3);
  });

  it('names the new model by the SHA-256 of its bytes, small or large (hashed on another thread once it runs)', async () => {
    // Several large rounds: the first starts the hashing thread, later ones use it (DigestWorker's tests check the thread).
    const sizes = [3, PARALLEL_DIGEST_MIN_BYTES / 4 + 5, PARALLEL_DIGEST_MIN_BYTES / 4 + 5, 2 * 65_536 + 1];
    for (const size of sizes) {
      const round = fedAvg.begin(new Float32Array(size));
      round.add({ participant: 'a', weights: Float32Array.from({ length: size }, (_, i) => i % 7), numSamples: 2, metrics: {} });
      round.add({ participant: 'b', weights: Float32Array.from({ length: size }, (_, i) => i % 11), numSamples: 3, metrics: {} });
      round.add({ participant: 'c', weights: Float32Array.from({ length: size }, (_, i) => -i), numSamples: 5, metrics: {} });
      const result = round.result()!;
      expect(result.sha256).toBe(sha256Hex(encodeWeights(result.weights)));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });

  it('returns null when no update came, so the previous model stays', () => {
    expect(fedAvg.begin(new Float32Array(3)).result()).toBeNull();
  });

  it('refuses an update of another size', () => {
    const round = fedAvg.begin(new Float32Array(3));
    expect(() => round.add({ participant: 'a', weights: new Float32Array(2), numSamples: 1, metrics: {} })).toThrow();
  });

  it('starts each round from zero though it reuses the running sums of ended rounds, and keeps a taken aggregate', () => {
    const update = (value: number) => ({ participant: 'a', weights: new Float32Array([value, value]), numSamples: 2, metrics: {} });
    const first = fedAvg.begin(new Float32Array(2));
    first.add(update(5));
    const firstResult = first.result();
    // Rounds overlapping (two jobs) and following one another, each with its own sum.
    const second = fedAvg.begin(new Float32Array(2));
    const third = fedAvg.begin(new Float32Array(2));
    second.add(update(1));
    third.add(update(7));
    expect(Array.from(second.result()!.weights)).toEqual([1, 1]);
    expect(Array.from(third.result()!.weights)).toEqual([7, 7]);
    const fourth = fedAvg.begin(new Float32Array(2));
    fourth.add(update(3));
    expect(Array.from(fourth.result()!.weights)).toEqual([3, 3]);
    expect(first.result()).toBe(firstResult);
    expect(Array.from(firstResult!.weights)).toEqual([5, 5]);
    expect(() => first.add(update(1))).toThrow('after the aggregate was taken');
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
