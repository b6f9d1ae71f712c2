/**
 * The statistics phase's aggregation: participants' counts, sums and sums of
 * squares become the global normalization and category vocabularies, so every
 * site prepares its data identically without any row leaving it.
 */
import { FlError, type ErrorCode, type JobSpec, type LocalStatistics, type Preprocessing } from '@fl/shared';

type Moments = { count: number; sum: number; sumSquares: number };

function meanStd({ count, sum, sumSquares }: Moments): { mean: number; std: number } {
  if (count === 0) return { mean: 0, std: 1 };
  const mean = sum / count;
  // Population variance; clamp the rounding error that can make it slightly negative.
  const variance = Math.max(0, sumSquares / count - mean * mean);
  const std = Math.sqrt(variance);
  return { mean, std: std > 1e-12 ? std : 1 };
}

/** Only values seen at least once count: a zero count names nothing, and must not add a class or a category. */
function addCounts(into: Map<string, number>, counts: [string, number][]): void {
  for (const [value, n] of counts) if (n > 0) into.set(value, (into.get(value) ?? 0) + n);
}

const sorted = (values: Iterable<string>) => [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** Checks that one participant's statistics describe the job's columns, in order. */
export function statisticsMatchSpec(stats: LocalStatistics, spec: JobSpec): string | null {
  if (stats.features.length !== spec.features.length) return 'one entry per job feature is expected';
  for (let i = 0; i < spec.features.length; i++) {
    const [got, want] = [stats.features[i], spec.features[i]];
    if (got.name !== want.name || got.type !== want.type) return `feature ${i} should be ${want.name} (${want.type})`;
  }
  const targetType = spec.model === 'linear' ? 'numeric' : spec.model === 'kmeans' ? 'none' : 'categorical';
  if (stats.target.type !== targetType) return `the target of a ${spec.model} model is ${targetType}`;
  return null;
}

/**
 * The largest mean or standard deviation a numeric column may have, in its own
 * units: integers beyond 2^53 (about 9e15) are no longer exact in float64, and
 * real columns (amounts, millisecond timestamps near 1.7e12) stay far below.
 * Sums of 1e300 would make every site's standardized values non-finite.
 */
export const MAX_ABS_MOMENT = 1e15;
/**
 * How far, in the sites' median standard deviation, a site's mean may sit
 * from the sites' median mean (or how large its deviation may be) before the
 * site is left out: a thousand tolerates strong heterogeneity between sites (a column
 * partition, another region), not values in other units or invented ones.
 */
export const MAX_SPREAD = 1000;

/** A site left out of a job by its statistics, and why. */
export interface Exclusion {
  participant: string;
  code: ErrorCode;
  reason: string;
}

type Moment = { count: number; sum: number; sumSquares: number };

/**
 * What one site's statistics say about themselves: counts that add up, moments that exist and are bounded.
 * Alone, they admit a site that connects after the statistics phase: its statistics no longer change the job's.
 */
export function selfCheck(stats: LocalStatistics, spec: JobSpec): Omit<Exclusion, 'participant'> | null {
  if (stats.rows > spec.maxRowsPerParticipant) {
    return { code: 'IMPLAUSIBLE_SAMPLES', reason: `reports ${stats.rows} rows, above the job's limit of ${spec.maxRowsPerParticipant} per site` };
  }
  const moments = (what: string, m: Moment): string | null => {
    if (m.count === 0) return m.sum === 0 && m.sumSquares === 0 ? null : `${what}: sums without values`;
    const { mean, variance } = rawMoments(m);
    // Cauchy-Schwarz: a sum of squares below sum²/count cannot come from real values (rounding aside).
    if (m.sumSquares < (m.sum * m.sum) / m.count - 1e-9 * Math.abs(m.sumSquares) - 1e-9) return `${what}: a sum of squares no values can have`;
    if (!(Math.abs(mean) <= MAX_ABS_MOMENT) || !(Math.sqrt(variance) <= MAX_ABS_MOMENT)) {
      return `${what}: a mean or standard deviation beyond ${MAX_ABS_MOMENT}`;
    }
    return null;
  };
  for (const f of stats.features) {
    if (f.type === 'numeric') {
      if (f.count + f.missing !== stats.rows) return { code: 'IMPLAUSIBLE_STATISTICS', reason: `feature ${f.name}: values and missing values do not add up to the rows` };
      const wrong = moments(`feature ${f.name}`, f);
      if (wrong) return { code: 'IMPLAUSIBLE_STATISTICS', reason: wrong };
    } else if (f.counts.reduce((n, [, c]) => n + c, f.missing) !== stats.rows) {
      return { code: 'IMPLAUSIBLE_STATISTICS', reason: `feature ${f.name}: category counts and missing values do not add up to the rows` };
    }
  }
  const { target } = stats;
  if (target.type === 'numeric') {
    if (target.count !== stats.rows) return { code: 'IMPLAUSIBLE_STATISTICS', reason: 'the target count is not the rows' };
    const wrong = moments('the target', target);
    if (wrong) return { code: 'IMPLAUSIBLE_STATISTICS', reason: wrong };
    return null;
  }
  if (target.type === 'none') return null;
  if (target.counts.reduce((n, [, c]) => n + c, 0) !== stats.rows) {
    return { code: 'IMPLAUSIBLE_STATISTICS', reason: 'the target class counts do not add up to the rows' };
  }
  const undeclared = spec.classes && target.counts.find(([value, n]) => n > 0 && !spec.classes!.includes(value));
  if (undeclared) return { code: 'UNDECLARED_CLASS', reason: `reports a target class outside the job's ${spec.classes!.length} classes` };
  return null;
}

function rawMoments({ count, sum, sumSquares }: Moment): { mean: number; variance: number } {
  const mean = sum / count;
  return { mean, variance: Math.max(0, sumSquares / count - mean * mean) };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * A site whose mean or spread of a numeric column is orders of magnitude away
 * from the sites': compared with the medians over all sites, which one site
 * cannot move once there are three.
 */
function outlierCheck(name: string, all: Map<string, LocalStatistics>, moment: (s: LocalStatistics) => Moment | undefined): Exclusion[] {
  const sites = [...all].flatMap(([participant, s]) => {
    const m = moment(s);
    if (!m || m.count === 0) return [];
    const { mean, variance } = rawMoments(m);
    return [{ participant, mean, std: Math.sqrt(variance) }];
  });
  if (sites.length < 3) return [];
  const center = median(sites.map((s) => s.mean));
  // Not below the float64 rounding of a sum of squares (about 1e-8 of the mean): a constant column is no yardstick.
  const spread = Math.max(median(sites.map((s) => s.std)), 1e-6 * Math.abs(center));
  if (!(spread > 0)) return [];
  return sites.flatMap((site) =>
    Math.abs(site.mean - center) > MAX_SPREAD * spread || site.std > MAX_SPREAD * spread
      ? [{ participant: site.participant, code: 'IMPLAUSIBLE_STATISTICS' as const, reason: `${name}: a mean or spread over ${MAX_SPREAD} typical deviations away from the other sites'` }]
      : [],
  );
}

/**
 * With no declared classes, a logistic job's two classes are the two most sites
 * report; a site reporting any other is left out. Ambiguous (a tie for second
 * place) leaves everyone in, and combining fails with the classes named.
 */
function binaryOutliers(spec: JobSpec, all: Map<string, LocalStatistics>): Exclusion[] {
  if (spec.model !== 'logistic' || spec.classes) return [];
  const present = (s: LocalStatistics) => (s.target.type === 'categorical' ? s.target.counts.filter(([, n]) => n > 0).map(([v]) => v) : []);
  const sites = new Map<string, number>();
  for (const s of all.values()) for (const v of new Set(present(s))) sites.set(v, (sites.get(v) ?? 0) + 1);
  if (sites.size <= 2) return [];
  const ranked = [...sites].sort((a, b) => b[1] - a[1]);
  if (ranked[1][1] === ranked[2][1]) return [];
  const kept = new Set([ranked[0][0], ranked[1][0]]);
  return [...all].flatMap(([participant, s]) =>
    present(s).some((v) => !kept.has(v))
      ? [{ participant, code: 'UNDECLARED_CLASS' as const, reason: 'reports a third target class that the other sites do not' }]
      : [],
  );
}

/**
 * Admits the sites whose statistics are plausible, on their own and beside the
 * others'; the rest are left out of the job with a reason, so one site cannot
 * fail the job or skew everyone's preprocessing by orders of magnitude (within
 * the bounds it still can: docs/robustness.md).
 */
export function admitStatistics(spec: JobSpec, all: ReadonlyMap<string, LocalStatistics>): { admitted: Map<string, LocalStatistics>; excluded: Exclusion[] } {
  const excluded: Exclusion[] = [];
  const admitted = new Map<string, LocalStatistics>();
  for (const [participant, stats] of all) {
    const refused = selfCheck(stats, spec);
    if (refused) excluded.push({ participant, ...refused });
    else admitted.set(participant, stats);
  }
  const across = [
    ...spec.features.flatMap((f, i) =>
      f.type === 'numeric' ? outlierCheck(`feature ${f.name}`, admitted, (s) => (s.features[i].type === 'numeric' ? (s.features[i] as Moment) : undefined)) : [],
    ),
    ...(spec.model === 'linear' ? outlierCheck('the target', admitted, (s) => (s.target.type === 'numeric' ? s.target : undefined)) : []),
    ...binaryOutliers(spec, admitted),
  ];
  for (const exclusion of across) {
    if (!admitted.delete(exclusion.participant)) continue;
    excluded.push(exclusion);
  }
  return { admitted, excluded };
}

export function combineStatistics(spec: JobSpec, all: LocalStatistics[]): Preprocessing {
  const features: Preprocessing['features'] = spec.features.map((feature, i) => {
    if (feature.type === 'numeric') {
      const moments = { count: 0, sum: 0, sumSquares: 0 };
      for (const s of all) {
        const f = s.features[i];
        if (f.type !== 'numeric') continue;
        moments.count += f.count;
        moments.sum += f.sum;
        moments.sumSquares += f.sumSquares;
      }
      return { name: feature.name, type: 'numeric', ...meanStd(moments) };
    }
    const counts = new Map<string, number>();
    for (const s of all) {
      const f = s.features[i];
      if (f.type === 'categorical') addCounts(counts, f.counts);
    }
    // Declared categories bound the vocabulary: a value outside them is the unknown level, wherever it is seen.
    const declared = feature.categories && new Set(feature.categories);
    return { name: feature.name, type: 'categorical', vocabulary: sorted([...counts.keys()].filter((c) => !declared || declared.has(c))) };
  });

  const inputDim = features.reduce((d, f) => d + (f.type === 'numeric' ? 1 : f.vocabulary.length + 1), 0);
  const rows = all.reduce((n, s) => n + s.rows, 0);
  return { features, target: combineTarget(spec, all), inputDim, rows };
}

function combineTarget(spec: JobSpec, all: LocalStatistics[]): Preprocessing['target'] {
  if (spec.model === 'kmeans') return { type: 'none' };
  if (spec.model === 'linear') {
    const moments = { count: 0, sum: 0, sumSquares: 0 };
    for (const { target } of all) {
      if (target.type !== 'numeric') continue;
      moments.count += target.count;
      moments.sum += target.sum;
      moments.sumSquares += target.sumSquares;
    }
    return { type: 'numeric', ...meanStd(moments) };
  }
  const counts = new Map<string, number>();
  for (const { target } of all) if (target.type === 'categorical') addCounts(counts, target.counts);
  // Declared classes are the model's outputs whatever the sites hold; sorted, as reported ones are.
  const classes = sorted(spec.classes ?? counts.keys());
  // An svm of more than two classes is one-vs-rest, a margin per class; of two, one margin as logistic has.
  if (spec.model === 'softmax' || (spec.model === 'svm' && classes.length > 2)) {
    if (classes.length < 2) throw new FlError('INVALID_STATISTICS', `the target ${spec.target} has fewer than 2 classes`);
    return { type: 'classes', classes };
  }
  if (classes.length < 2) {
    throw new FlError('INVALID_STATISTICS', `a logistic target needs exactly 2 classes; ${spec.target} has ${classes.length}`);
  }
  const positive = spec.positiveClass ?? (classes.length === 2 ? classes[1] : undefined);
  if (positive !== undefined && !classes.includes(positive)) {
    throw new FlError('INVALID_STATISTICS', `the positive class ${positive} is not a value of ${spec.target}`);
  }
  // A stray value at one site (a typo, a third label) must not fail the job for everyone: the two most
  // frequent values are the classes, and a site whose rows hold another reports DATA_TARGET_UNKNOWN_CLASS.
  const byFrequency = classes.slice().sort((a, b) => counts.get(b)! - counts.get(a)! || (a < b ? -1 : a > b ? 1 : 0));
  const kept = positive !== undefined ? [positive, byFrequency.find((c) => c !== positive)!] : byFrequency.slice(0, 2);
  const [negative, chosenPositive] = positive !== undefined ? [kept[1], positive] : sorted(kept);
  return { type: 'binary', classes: [negative, chosenPositive] };
}
