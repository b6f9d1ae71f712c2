import { EMPTY_STATE, StrategySpecSchema, type JobSpec, type LocalStatistics } from '@fl/shared';
import { createStrategy, fedAvg } from './fedavg';
import { combineStatistics, statisticsMatchSpec } from './statistics';

describe('a job strategy', () => {
  it('FedAvg weights each model by its sample count, and the metrics too', () => {
    const round = fedAvg.aggregateTrain(new Float32Array(2), EMPTY_STATE);
    round.add({ participant: 'a', weights: new Float32Array([1, 10]), numSamples: 1, metrics: { trainLoss: 0.4 } });
    round.add({ participant: 'b', weights: new Float32Array([4, 20]), numSamples: 3, metrics: { trainLoss: 0.8 } });
    const result = round.result()!;
    // (1*1 + 4*3) / 4 = 3.25 ; (10*1 + 20*3) / 4 = 17.5 ; loss (0.4 + 2.4) / 4 = 0.7
    expect(Array.from(result.weights)).toEqual([3.25, 17.5]);
    expect(result.metrics.trainLoss).toBeCloseTo(0.7);
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

  it('weights evaluations by their examples', () => {
    const evaluation = fedAvg.aggregateEvaluate(
      new Map([
        ['a', { numExamples: 1, metrics: { accuracy: 1 } }],
        ['b', { numExamples: 3, metrics: { accuracy: 0.5 } }],
      ]),
    );
    expect(evaluation).toEqual({ metrics: { accuracy: 0.625 }, numExamples: 4, participants: ['a', 'b'] });
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
