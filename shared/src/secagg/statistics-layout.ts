/**
 * The layout of a secure job's statistics vector (statistics.ts), from the
 * spec alone, and what a spec must declare for it: apart from the job schema,
 * which refuses a secure job whose statistics cannot be laid out.
 */
import type { ModelKind } from '../model/model';
import { SecAggError } from './errors';
import type { BrokenRule } from '../protocol/rules';

/** The most parties a round may hold (the request schema's limit on ids): what a statistics sum is sized for. */
export const MAX_STATISTICS_PARTIES = 100_000;
/** The widest statistics element, in 32-bit words: 128 bits. */
export const MAX_STATISTICS_WIDTH = 4;

/** How a job's statistics vector is laid out in the ring. */
export interface StatisticsEncoding {
  /** words per element */
  width: number;
  /** elements in the vector */
  elements: number;
  /** fixed-point levels across a numeric column's bounds */
  levels: number;
}

/** What of a job spec lays its statistics out (the job schema's types, without importing it). */
export interface StatisticsSpec {
  model: ModelKind;
  features: { name: string; type: 'numeric' | 'categorical'; bounds?: [number, number]; categories?: string[] }[];
  classes?: string[];
  targetBounds?: [number, number];
  maxRowsPerParticipant: number;
  secureAggregation?: { statisticsLevels: number; vocabulary?: unknown };
}
type Spec = StatisticsSpec;

export const isClassifier = (model: ModelKind): boolean => model === 'logistic' || model === 'softmax' || model === 'svm';

/**
 * What a secure job must declare for its statistics to be summed, each with its
 * path in the spec: bounds for every numeric column, the categories of every
 * categorical one, the classes of a classifier, and a size that fits the ring.
 */
export function secureStatisticsRefusals(spec: Spec): BrokenRule[] {
  const refusals: BrokenRule[] = [];
  spec.features.forEach((f, i) => {
    if (f.type === 'numeric' && !f.bounds) {
      refusals.push({
        path: ['features', i, 'bounds'],
        rule: 'secureBounds',
        values: { feature: f.name },
        message: `secure aggregation sums the statistics as fixed-point numbers: declare bounds [min, max] for the numeric feature ${f.name}`,
      });
    }
    if (f.type === 'categorical' && !f.categories && !spec.secureAggregation?.vocabulary) {
      refusals.push({
        path: ['features', i, 'categories'],
        rule: 'secureCategories',
        values: { feature: f.name },
        message: `secure aggregation sums category counts over a fixed vocabulary: declare the categories of the feature ${f.name}, or gather them (secureAggregation.vocabulary)`,
      });
    }
  });
  if (isClassifier(spec.model) && !spec.classes) {
    refusals.push({
      path: ['classes'],
      rule: 'secureClasses',
      values: { model: spec.model },
      message: `secure aggregation sums class counts over a fixed list: declare the classes of the ${spec.model} target`,
    });
  }
  if (spec.model === 'linear' && !spec.targetBounds) {
    refusals.push({ path: ['targetBounds'], rule: 'secureTargetBounds', message: 'secure aggregation sums the target as fixed-point numbers: declare targetBounds [min, max]' });
  }
  const sums = statisticsSums(spec);
  if (refusals.length === 0 && sums.bits > MAX_SUM_BITS) {
    refusals.push({ path: ['maxRowsPerParticipant'], rule: 'secureStatisticsBits', values: { ...sums, maxBits: MAX_SUM_BITS }, message: tooWide(sums) });
  }
  return refusals;
}

const MAX_SUM_BITS = 32 * MAX_STATISTICS_WIDTH;

/** The bits of the largest statistics sum: every party's rows, each a square of at most levels². */
function statisticsSums(spec: Spec): { rows: number; levels: number; bits: number } {
  const levels = spec.secureAggregation?.statisticsLevels ?? 2 ** 20;
  const largest = BigInt(MAX_STATISTICS_PARTIES) * BigInt(spec.maxRowsPerParticipant) * BigInt(levels) ** 2n;
  return { rows: spec.maxRowsPerParticipant, levels, bits: largest.toString(2).length };
}

const tooWide = ({ rows, levels, bits }: { rows: number; levels: number; bits: number }) =>
  `the statistics of ${rows} rows a site at ${levels} levels need ${bits}-bit sums, beyond the ${MAX_SUM_BITS} bits the ring holds: lower maxRowsPerParticipant or secureAggregation.statisticsLevels`;

/** The vector's layout: the same at every site, at the coordinator and in the audit, from the spec alone. */
export function statisticsEncoding(spec: Spec): StatisticsEncoding {
  const sums = statisticsSums(spec);
  let elements = 1;
  for (const f of spec.features) elements += f.type === 'numeric' ? 3 : (f.categories?.length ?? 0) + 2;
  if (spec.model === 'linear') elements += 3;
  else if (isClassifier(spec.model)) elements += spec.classes?.length ?? 0;
  if (sums.bits > MAX_SUM_BITS) throw new SecAggError('SECAGG_QUANTIZATION', tooWide(sums));
  const { levels } = sums;
  const width = Math.ceil(sums.bits / 32);
  return { width, elements, levels };
}

