import { generateKeyPair } from '../crypto/keys';
import { FlError } from '../protocol/errors';
import { JobSpecSchema, type LocalStatistics } from '../protocol/job';
import { addInto, decodeStatistics, encodeStatistics, runLocalRound, SecAggError, statisticsEncoding } from '.';

const spec = JobSpecSchema.parse({
  model: 'logistic',
  features: [
    { name: 'age', type: 'numeric', bounds: [18, 100] },
    { name: 'home', type: 'categorical', categories: ['owner', 'rent'] },
    { name: 'income', type: 'numeric', bounds: [-1000, 1e5] },
  ],
  target: 'status',
  classes: ['bad', 'good'],
  minParticipants: 3,
  secureAggregation: {},
});

/** A site's statistics from its rows, as the agent computes them. */
function site(rows: { age: number | null; home: string | null; income: number; status: string }[]): LocalStatistics {
  const moments = (values: number[]) => ({ count: values.length, sum: values.reduce((s, v) => s + v, 0), sumSquares: values.reduce((s, v) => s + v * v, 0) });
  const ages = rows.flatMap((r) => (r.age === null ? [] : [r.age]));
  const homes = new Map<string, number>();
  for (const r of rows) if (r.home !== null) homes.set(r.home, (homes.get(r.home) ?? 0) + 1);
  const classes = new Map<string, number>();
  for (const r of rows) classes.set(r.status, (classes.get(r.status) ?? 0) + 1);
  return {
    rows: rows.length,
    features: [
      { name: 'age', type: 'numeric', ...moments(ages), missing: rows.length - ages.length },
      { name: 'home', type: 'categorical', counts: [...homes], missing: rows.filter((r) => r.home === null).length },
      { name: 'income', type: 'numeric', ...moments(rows.map((r) => r.income)), missing: 0 },
    ],
    target: { type: 'categorical', counts: [...classes] },
  };
}

const a = site([
  { age: 30, home: 'rent', income: 1200.5, status: 'good' },
  { age: null, home: 'owner', income: -50, status: 'bad' },
  { age: 61, home: 'other', income: 99_000, status: 'good' },
]);
const b = site([
  { age: 45, home: null, income: 3000, status: 'good' },
  { age: 18, home: 'rent', income: 0, status: 'bad' },
]);

describe('statistics as a secure-aggregation vector', () => {
  it('sizes the ring so that every site’s sum of squares fits, and refuses what cannot fit', () => {
    // 10^5 parties × 10^8 rows × (2^20)^2 levels² needs 84 bits: three words
    expect(statisticsEncoding(spec)).toEqual({ width: 3, elements: 1 + 3 + 4 + 3 + 2, levels: 2 ** 20 });
    const wide = { ...spec, maxRowsPerParticipant: Number.MAX_SAFE_INTEGER, secureAggregation: { ...spec.secureAggregation!, statisticsLevels: 2 ** 30 } };
    expect(() => statisticsEncoding(wide)).toThrow(/beyond the 128 bits/);
  });

  it('decodes the sum of two sites’ vectors to their combined statistics, within the fixed-point step', () => {
    const sum = encodeStatistics(a, spec);
    addInto(sum, encodeStatistics(b, spec), 1, statisticsEncoding(spec).width);
    const total = decodeStatistics(sum, spec, 2);
    expect(total.rows).toBe(5);
    const [age, home, income] = total.features;
    const step = (hi: number, lo: number) => (hi - lo) / 2 ** 20;
    expect(age).toMatchObject({ type: 'numeric', count: 4, missing: 1 });
    if (age.type !== 'numeric' || income.type !== 'numeric') throw new Error('numeric');
    expect(Math.abs(age.sum - 154)).toBeLessThanOrEqual(step(100, 18));
    expect(Math.abs(age.sumSquares - (900 + 3721 + 2025 + 324)) / 6970).toBeLessThan(1e-6);
    expect(Math.abs(income.sum - 103_150.5)).toBeLessThanOrEqual(step(1e5, -1000));
    // the category outside the declared ones is counted, not named
    expect(home).toEqual({ name: 'home', type: 'categorical', counts: [['owner', 1], ['rent', 2]], missing: 1 });
    expect(total.target).toEqual({ type: 'categorical', counts: [['bad', 2], ['good', 3]] });
  });

  it('masks and unmasks a statistics vector in Z_2^96 exactly, carries and all, with a party dropping', async () => {
    const ids = ['s0', 's1', 's2', 's3'];
    const inputs = [a, b, a, b].map((s) => encodeStatistics(s, spec));
    // three neighbours each (all others) and t = 2: the others' shares rebuild s3's mask key
    const parties = new Map(ids.map((id, i) => [id, { identity: generateKeyPair(), input: inputs[i] }]));
    const { width } = statisticsEncoding(spec);
    const { sum } = await runLocalRound({ job: 'j', round: 0, neighbours: 4, threshold: 2, parties, width, drop: { afterSharing: ['s3'] } });
    const expected = Uint32Array.from(inputs[0]);
    for (const input of inputs.slice(1, 3)) addInto(expected, input, 1, width);
    expect(Array.from(sum)).toEqual(Array.from(expected));
    expect(decodeStatistics(sum, spec, 3).rows).toBe(8);
  });

  it('carries between words, and subtracts back', () => {
    const x = Uint32Array.from([0xffffffff, 0xffffffff, 0, 7, 0, 0]);
    const y = Uint32Array.from([1, 0, 0, 0xffffffff, 0, 0]);
    addInto(x, y, 1, 3);
    expect(Array.from(x)).toEqual([0, 0, 1, 6, 1, 0]);
    addInto(x, y, -1, 3);
    expect(Array.from(x)).toEqual([0xffffffff, 0xffffffff, 0, 7, 0, 0]);
  });

  it('refuses a sum no honest sites can give: a masked input beyond its bounds shows in the sum', () => {
    const { width } = statisticsEncoding(spec);
    const bad = encodeStatistics(a, spec);
    // the sum of ages ≥ what three rows at the upper bound allow
    bad[1 * width + width + 1] = 1;
    expect(() => decodeStatistics(bad, spec, 1)).toThrow(FlError);
    const rows = encodeStatistics(b, spec);
    rows[0] = 1_000;
    expect(() => decodeStatistics(rows, spec, 1)).toThrow(/category counts and missing values do not add up/);
    expect(() => decodeStatistics(new Uint32Array(3), spec, 1)).toThrow(SecAggError);
  });

  it('a secure job declares what its statistics need, with the path of each', () => {
    const result = JobSpecSchema.safeParse({
      model: 'linear',
      features: [
        { name: 'x', type: 'numeric' },
        { name: 'c', type: 'categorical' },
      ],
      target: 'y',
      minParticipants: 3,
      secureAggregation: {},
    });
    expect(result.success).toBe(false);
    const issues = result.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^features\.0\.bounds: .*declare bounds/),
        expect.stringMatching(/^features\.1\.categories: .*declare the categories/),
        expect.stringMatching(/^targetBounds: /),
      ]),
    );
    const tooWide = JobSpecSchema.safeParse({ ...spec, maxRowsPerParticipant: Number.MAX_SAFE_INTEGER, secureAggregation: { statisticsLevels: 2 ** 30 } });
    expect(tooWide.error?.issues.map((i) => i.path.join('.'))).toEqual(['maxRowsPerParticipant']);
    expect(JobSpecSchema.safeParse({ ...spec, features: [{ name: 'x', type: 'numeric', bounds: [1, 1] }] }).success).toBe(false);
  });
});
