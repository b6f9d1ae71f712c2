/**
 * The statistics phase's aggregation: participants' counts, sums and sums of
 * squares become the global normalization and category vocabularies, so every
 * site prepares its data identically without any row leaving it.
 */
import { FlError, type JobSpec, type LocalStatistics, type Preprocessing } from '@fl/shared';

type Moments = { count: number; sum: number; sumSquares: number };

function meanStd({ count, sum, sumSquares }: Moments): { mean: number; std: number } {
  if (count === 0) return { mean: 0, std: 1 };
  const mean = sum / count;
  // Population variance; clamp the rounding error that can make it slightly negative.
  const variance = Math.max(0, sumSquares / count - mean * mean);
  const std = Math.sqrt(variance);
  return { mean, std: std > 1e-12 ? std : 1 };
}

function addCounts(into: Map<string, number>, counts: [string, number][]): void {
  for (const [value, n] of counts) into.set(value, (into.get(value) ?? 0) + n);
}

const sorted = (values: Iterable<string>) => [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** Checks that one participant's statistics describe the job's columns, in order. */
export function statisticsMatchSpec(stats: LocalStatistics, spec: JobSpec): string | null {
  if (stats.features.length !== spec.features.length) return 'one entry per job feature is expected';
  for (let i = 0; i < spec.features.length; i++) {
    const [got, want] = [stats.features[i], spec.features[i]];
    if (got.name !== want.name || got.type !== want.type) return `feature ${i} should be ${want.name} (${want.type})`;
  }
  const targetType = spec.model === 'linear' ? 'numeric' : 'categorical';
  if (stats.target.type !== targetType) return `the target of a ${spec.model} model is ${targetType}`;
  return null;
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
    return { name: feature.name, type: 'categorical', vocabulary: sorted(counts.keys()) };
  });

  const inputDim = features.reduce((d, f) => d + (f.type === 'numeric' ? 1 : f.vocabulary.length + 1), 0);
  const rows = all.reduce((n, s) => n + s.rows, 0);
  return { features, target: combineTarget(spec, all), inputDim, rows };
}

function combineTarget(spec: JobSpec, all: LocalStatistics[]): Preprocessing['target'] {
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
  const classes = sorted(counts.keys());
  if (spec.model === 'softmax') {
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
