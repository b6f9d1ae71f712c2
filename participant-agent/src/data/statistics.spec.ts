import { decodeStatistics, JobSpecSchema, LocalStatisticsSchema, type JobSpec } from '@fl/shared';
import { DataError } from './errors';
import { computeStatistics, secureStatisticsInput } from './statistics';
import { tableOf, type LocalTable, type Value } from './table';

const spec = (model: JobSpec['model']): JobSpec =>
  JobSpecSchema.parse({
    model,
    features: [
      { name: 'age', type: 'numeric' },
      { name: 'home', type: 'categorical' },
    ],
    target: 'y',
  });

const table = (...rows: Value[][]): LocalTable => tableOf(['age', 'home', 'y'], rows);

describe('computeStatistics', () => {
  it('sums, counts and category counts over the rows that have a target', () => {
    // Prepare: the row with a missing target must not count anywhere
    const data = table(
      [1, 'rent', 'good'],
      [2, 'owner', 'bad'],
      [null, 'rent', 'good'],
      [3, null, 'good'],
      [100, 'other', null],
    );

    // Execute
    const stats = computeStatistics(data, spec('logistic'));

    // Assert: 1+2+3 = 6, 1+4+9 = 14
    expect(stats).toEqual({
      rows: 4,
      features: [
        { name: 'age', type: 'numeric', count: 3, sum: 6, sumSquares: 14, missing: 1 },
        { name: 'home', type: 'categorical', counts: [['owner', 1], ['rent', 2]], missing: 1 },
      ],
      target: { type: 'categorical', counts: [['bad', 1], ['good', 3]] },
    });
    expect(LocalStatisticsSchema.safeParse(stats).success).toBe(true);
  });

  it('gives a numeric target its moments for a linear model', () => {
    const data = table([1, 'rent', 2], [2, 'rent', -3], [3, 'rent', null]);

    const stats = computeStatistics(data, spec('linear'));

    // 2 + -3 = -1, 4 + 9 = 13
    expect(stats.target).toEqual({ type: 'numeric', count: 2, sum: -1, sumSquares: 13 });
    expect(stats.rows).toBe(2);
    expect(stats.features[0]).toMatchObject({ count: 2, sum: 3, sumSquares: 5 });
  });

  it('sorts categories by code unit, as the coordinator does', () => {
    const data = table([1, 'b', 'x'], [1, 'B', 'x'], [1, 'a', 'x'], [1, 'b', 'x']);

    const stats = computeStatistics(data, spec('softmax'));

    expect(stats.features[1]).toEqual({ name: 'home', type: 'categorical', counts: [['B', 1], ['a', 1], ['b', 2]], missing: 0 });
  });

  it('counts values named like Object.prototype members', () => {
    const data = table([1, '__proto__', 'x'], [1, 'constructor', 'x'], [1, '__proto__', 'x']);

    const stats = computeStatistics(data, spec('logistic'));

    expect(stats.features[1]).toMatchObject({ counts: [['__proto__', 2], ['constructor', 1]] });
  });

  it('reports zero moments for an empty table', () => {
    const stats = computeStatistics(tableOf(['age', 'home', 'y'], [], ['numeric', 'categorical', 'numeric']), spec('linear'));

    expect(stats.rows).toBe(0);
    expect(stats.features[0]).toEqual({ name: 'age', type: 'numeric', count: 0, sum: 0, sumSquares: 0, missing: 0 });
    expect(stats.target).toEqual({ type: 'numeric', count: 0, sum: 0, sumSquares: 0 });
  });

  it('names the column whose statistics exceed the protocol limits', () => {
    const data = table([1e200, 'rent', 'x']);

    expect(() => computeStatistics(data, spec('logistic'))).toThrow(/cannot be reported: column age: values so large \(about 1e154 or more\) that their sum of squares is beyond the range of numbers; is the column in the job's unit\?/);
  });

  it('names the target when a class label is longer than the protocol allows', () => {
    const data = table([1, 'rent', 'x'.repeat(1001)]);

    expect(() => computeStatistics(data, spec('logistic'))).toThrow(/cannot be reported: target y: /);
  });

  it('refuses a table built for another job', () => {
    expect(() => computeStatistics(table(['30', 'rent', 'x']), spec('logistic'))).toThrow(/numeric column holds text/);
    expect(() => computeStatistics(tableOf(['age', 'y'], [], ['numeric', 'categorical']), spec('logistic'))).toThrow('no column "home"');
  });
});

describe('secureStatisticsInput', () => {
  const secure = (over: Record<string, unknown> = {}): JobSpec =>
    JobSpecSchema.parse({
      model: 'logistic',
      features: [
        { name: 'age', type: 'numeric', bounds: [0, 10] },
        { name: 'home', type: 'categorical', categories: ['owner', 'rent'] },
      ],
      target: 'y',
      classes: ['bad', 'good'],
      minParticipants: 3,
      secureAggregation: {},
      ...over,
    });

  it('clips values into the declared bounds and counts categories outside the declared ones apart', () => {
    const data = table([1, 'rent', 'good'], [25, 'owner', 'bad'], [-3, 'boat', 'good'], [null, null, 'good']);
    const stats = decodeStatistics(secureStatisticsInput(data, secure()), secure(), 1);
    // 1 + 10 + 0: the values beyond the bounds count at the bounds
    expect(stats.features[0]).toMatchObject({ count: 3, missing: 1 });
    expect(stats.features[0].type === 'numeric' && stats.features[0].sum).toBeCloseTo(11, 4);
    expect(stats.features[1]).toEqual({ name: 'home', type: 'categorical', counts: [['owner', 1], ['rent', 1]], missing: 1 });
    expect(stats.rows).toBe(4);
  });

  it('refuses at the site what the coordinator cannot see: too many rows, a class outside the declared ones', () => {
    const data = table([1, 'rent', 'good'], [2, 'owner', 'maybe']);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return err instanceof DataError ? err.code : String(err);
      }
      return 'accepted';
    };
    expect(code(() => secureStatisticsInput(data, secure()))).toBe('DATA_TARGET_UNKNOWN_CLASS');
    expect(code(() => secureStatisticsInput(table([1, 'rent', 'good'], [2, 'rent', 'bad']), secure({ maxRowsPerParticipant: 1 })))).toBe('DATA_TOO_MANY_ROWS');
  });
});
