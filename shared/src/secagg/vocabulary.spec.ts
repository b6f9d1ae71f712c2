import { JobSpecSchema } from '../protocol/job';
import { addInto, bucketOf, encodePresence, encodeValues, frequentBuckets, gatheredFeatures, gatheredValues, statisticsEncoding, withCategories } from '.';

const spec = JobSpecSchema.parse({
  model: 'logistic',
  features: [
    { name: 'home', type: 'categorical' },
    { name: 'age', type: 'numeric', bounds: [0, 100] },
    { name: 'job', type: 'categorical', categories: ['fixed', 'freelance'] },
    { name: 'marital', type: 'categorical' },
  ],
  target: 'y',
  classes: ['bad', 'good'],
  minParticipants: 3,
  secureAggregation: { vocabulary: { minSites: 2, buckets: 64 } },
});

/** Each site's distinct values of home and marital. */
const sites = [
  [['rent', 'owner'], ['married']],
  [['rent', 'castle'], ['married', 'single']],
  [['owner', 'rent'], ['single', 'widow']],
];

const sum = (vectors: Uint32Array[]) => vectors.slice(1).reduce((s, v) => (addInto(s, v), s), Uint32Array.from(vectors[0]));

describe('gathering vocabularies', () => {
  it('gathers the categorical features that declare none', () => {
    expect(gatheredFeatures(spec)).toEqual([0, 3]);
    expect(() => JobSpecSchema.parse({ ...spec, secureAggregation: { neighbours: 8 } })).toThrow(/declare the categories of the feature home, or gather them/);
  });

  it('reveals the values held by at least minSites sites, and no other', () => {
    const presence = sum(sites.map((values) => encodePresence('j', spec, values)));
    const frequent = frequentBuckets(presence, spec, 3);
    // rent (3 sites), owner (2), married (2), single (2); not castle or widow (1 each), unless a bucket is shared
    const bucket = (feature: string, value: string) => bucketOf('j', feature, value, 64);
    expect(frequent[0]).toEqual([...new Set([bucket('home', 'rent'), bucket('home', 'owner')])].sort((a, b) => a - b));
    const values = sum(sites.map((v) => encodeValues('j', spec, v, frequent)));
    const { categories, dropped } = gatheredValues(values, spec, frequent);
    expect(categories).toEqual([
      ['owner', 'rent'],
      ['married', 'single'],
    ]);
    expect(dropped).toBe(0);
    // the values sum holds nothing of castle or widow: only frequent buckets have slots
    expect(Buffer.from(values.buffer).includes(Buffer.from('castle'))).toBe(false);
    const declared = withCategories(spec, categories);
    expect(declared.features.map((f) => (f.type === 'categorical' ? f.categories : undefined))).toEqual([['owner', 'rent'], undefined, ['fixed', 'freelance'], ['married', 'single']]);
    expect(statisticsEncoding(declared).elements).toBe(1 + 4 + 3 + 4 + 4 + 2);
  });

  it('drops a bucket where two sites hold different values, and refuses counts beyond the sites', () => {
    const one = { ...spec, secureAggregation: { ...spec.secureAggregation!, vocabulary: { minSites: 2, buckets: 16, maxBytes: 8 } } };
    // with 16 buckets, find two values of one bucket
    const first = 'a0';
    const other = Array.from({ length: 1000 }, (_, i) => `b${i}`).find((v) => bucketOf('j', 'home', v, 16) === bucketOf('j', 'home', first, 16))!;
    const values = [[[first], []], [[other], []]];
    const frequent = frequentBuckets(sum(values.map((v) => encodePresence('j', one, v))), one, 2);
    expect(frequent[0]).toEqual([bucketOf('j', 'home', first, 16)]);
    const revealed = gatheredValues(sum(values.map((v) => encodeValues('j', one, v, frequent))), one, frequent);
    expect(revealed).toEqual({ categories: [[], []], dropped: 1 });
    const lying = encodePresence('j', one, [[first], []]);
    lying[0] = 7;
    expect(() => frequentBuckets(lying, one, 2)).toThrow(/counts 7 sites/);
  });
});
