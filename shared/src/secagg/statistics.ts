/**
 * The statistics phase of a secure job as one fixed-length vector the SecAgg+
 * machinery sums (docs/privacy.md): per feature, counts, and sums and sums of
 * squares as fixed-point numbers within the feature's declared bounds; per
 * declared category and class, counts. Each entry is an element of
 * Z_2^(32·width), wide enough that the sum over every site cannot wrap, so the
 * coordinator reads back exactly the sum of the sites' vectors and nothing else.
 */
import { FlError } from '../protocol/errors';
import type { LocalStatistics } from '../protocol/job';
import { SecAggError } from './errors';
import { isClassifier, statisticsEncoding, type StatisticsSpec as Spec } from './statistics-layout';

/** Fixed-point units per unit of a column bounded by [lo, hi]. */
const scaleOf = ([lo, hi]: [number, number], levels: number) => levels / (hi - lo);

/** A number rounded into [0, max] as an exact integer. */
const integer = (v: number, max: bigint): bigint => {
  const n = BigInt(Math.round(Math.max(0, v)));
  return n > max ? max : n;
};

/**
 * A site's ring input: its statistics (values already clipped into the declared
 * bounds, categories and classes within the declared ones) as integers, the
 * sums of each column shifted to its lower bound and scaled to fixed point.
 */
export function encodeStatistics(stats: LocalStatistics, spec: Spec): Uint32Array {
  const { width, elements, levels } = statisticsEncoding(spec);
  const out = new Uint32Array(elements * width);
  let at = 0;
  const put = (v: bigint) => {
    for (let w = 0; w < width; w++) out[at * width + w] = Number((v >> BigInt(32 * w)) & 0xffffffffn);
    at++;
  };
  const L = BigInt(levels);
  const moments = (m: { count: number; sum: number; sumSquares: number }, bounds: [number, number]) => {
    const [lo] = bounds;
    const s = scaleOf(bounds, levels);
    const n = BigInt(m.count);
    put(n);
    put(integer(s * (m.sum - m.count * lo), n * L));
    put(integer(s * s * (m.sumSquares - 2 * lo * m.sum + m.count * lo * lo), n * L * L));
  };
  put(BigInt(stats.rows));
  spec.features.forEach((feature, i) => {
    const f = stats.features[i];
    if (f.type === 'numeric') return moments(f, feature.bounds!);
    const counts = new Map(f.counts);
    let declared = 0;
    for (const c of feature.categories!) {
      const n = counts.get(c) ?? 0;
      declared += n;
      put(BigInt(n));
    }
    put(BigInt(f.counts.reduce((n, [, c]) => n + c, 0) - declared));
    put(BigInt(f.missing));
  });
  const { target } = stats;
  if (target.type === 'numeric') moments(target, spec.targetBounds!);
  else if (target.type === 'categorical') {
    const counts = new Map(target.counts);
    for (const c of spec.classes!) put(BigInt(counts.get(c) ?? 0));
  }
  if (at !== elements) throw new SecAggError('SECAGG_WRONG_LENGTH', `statistics of ${at} elements where the job's layout has ${elements}`);
  return out;
}

/**
 * The sum the coordinator unmasked, read back as the statistics of all the
 * sites together, after the checks an honest sum passes (counts that add up,
 * sums within what the counts allow); refused with IMPLAUSIBLE_STATISTICS
 * otherwise, since no one site can be singled out.
 */
export function decodeStatistics(sum: Uint32Array, spec: Spec, parties: number): LocalStatistics {
  const { width, elements, levels } = statisticsEncoding(spec);
  if (sum.length !== elements * width) throw new SecAggError('SECAGG_WRONG_LENGTH', `a statistics sum of ${sum.length} words, not ${elements * width}`);
  let at = 0;
  const next = (): bigint => {
    let v = 0n;
    for (let w = width - 1; w >= 0; w--) v = (v << 32n) | BigInt(sum[at * width + w]);
    at++;
    return v;
  };
  const refuse = (why: string): never => {
    throw new FlError('IMPLAUSIBLE_STATISTICS', `the summed statistics are inconsistent: ${why}`);
  };
  const L = BigInt(levels);
  const rows = next();
  if (rows > BigInt(parties) * BigInt(spec.maxRowsPerParticipant)) refuse(`${rows} rows from ${parties} sites of at most ${spec.maxRowsPerParticipant} each`);
  const moments = (what: string, bounds: [number, number]) => {
    const [lo] = bounds;
    const s = scaleOf(bounds, levels);
    const [n, u, u2] = [next(), next(), next()];
    if (n > rows) refuse(`${what}: ${n} values in ${rows} rows`);
    if (u > n * L || u2 > n * L * L) refuse(`${what}: sums beyond the declared bounds`);
    // Cauchy-Schwarz, with room for each site's rounding of its two sums to integers.
    const [count, su, su2] = [Number(n), Number(u), Number(u2)];
    if (count > 0 && su2 < (su * su) / count - parties * (levels + 1)) refuse(`${what}: a sum of squares no values can have`);
    return { count, sum: count * lo + su / s, sumSquares: count * lo * lo + (2 * lo * su) / s + su2 / (s * s) };
  };
  const features = spec.features.map((feature): LocalStatistics['features'][number] => {
    if (feature.type === 'numeric') {
      const m = moments(`feature ${feature.name}`, feature.bounds!);
      return { name: feature.name, type: 'numeric', ...m, missing: Number(rows) - m.count };
    }
    const counts = feature.categories!.map((c): [string, number] => [c, Number(next())]);
    const [other, missing] = [next(), next()];
    if (counts.reduce((n, [, c]) => n + BigInt(c), other + missing) !== rows) refuse(`feature ${feature.name}: category counts and missing values do not add up to the rows`);
    return { name: feature.name, type: 'categorical', counts, missing: Number(missing) };
  });
  let target: LocalStatistics['target'] = { type: 'none' };
  if (spec.model === 'linear') {
    const m = moments('the target', spec.targetBounds!);
    if (BigInt(m.count) !== rows) refuse('the target count is not the rows');
    target = { type: 'numeric', ...m };
  } else if (isClassifier(spec.model)) {
    const counts = spec.classes!.map((c): [string, number] => [c, Number(next())]);
    if (counts.reduce((n, [, c]) => n + c, 0) !== Number(rows)) refuse('the class counts do not add up to the rows');
    target = { type: 'categorical', counts };
  }
  return { rows: Number(rows), features, target };
}
