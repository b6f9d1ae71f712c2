/**
 * The statistics phase on a participant: counts, sums and sums of squares of the
 * local data, from which the coordinator builds the global normalization and
 * vocabularies. Only aggregates leave the site, never rows.
 */
import {
  encodePresence,
  encodeStatistics,
  encodeValues,
  gatheredFeatures,
  LocalStatisticsSchema,
  statisticsEncoding,
  type FrequentBuckets,
  type JobSpec,
  type LocalStatistics,
} from '@fl/shared';
import { DataError } from './errors';
import { MISSING_CODE, type Column, type LocalTable } from './table';

type Moments = { count: number; sum: number; sumSquares: number };

// Plain code-unit order, the order the coordinator sorts vocabularies in; localeCompare
// could differ between machines.
const byValue = ([a]: [string, number], [b]: [string, number]) => (a < b ? -1 : a > b ? 1 : 0);

/** Over the rows where `kept` is 1; values clipped into the column's declared bounds. */
function moments(column: Column, kept: Uint8Array, bounds?: [number, number]): Moments & { missing: number } {
  if (column.type !== 'numeric') throw new Error('a numeric column holds text; the table was not built for this job');
  const m = { count: 0, sum: 0, sumSquares: 0, missing: 0 };
  const { values } = column;
  const [lo, hi] = bounds ?? [-Infinity, Infinity];
  for (let r = 0; r < values.length; r++) {
    if (!kept[r]) continue;
    const v = Math.min(hi, Math.max(lo, values[r]));
    if (Number.isNaN(v)) m.missing++;
    else {
      m.count++;
      m.sum += v;
      m.sumSquares += v * v;
    }
  }
  return m;
}

function categoryCounts(column: Column, kept: Uint8Array): { counts: [string, number][]; missing: number } {
  if (column.type !== 'categorical') throw new Error('a categorical column holds numbers; the table was not built for this job');
  const { codes, dictionary } = column;
  const tally = new Float64Array(dictionary.length);
  let missing = 0;
  for (let r = 0; r < codes.length; r++) {
    if (!kept[r]) continue;
    if (codes[r] === MISSING_CODE) missing++;
    else tally[codes[r]]++;
  }
  const counts = dictionary.map((value, code): [string, number] => [value, tally[code]]).filter(([, count]) => count > 0);
  return { counts: counts.sort(byValue), missing };
}

/** 1 for the rows whose value is present. */
export function presentRows(column: Column): Uint8Array {
  const present = new Uint8Array(column.type === 'numeric' ? column.values.length : column.codes.length);
  if (column.type === 'numeric') column.values.forEach((v, r) => (present[r] = Number.isNaN(v) ? 0 : 1));
  else column.codes.forEach((code, r) => (present[r] = code === MISSING_CODE ? 0 : 1));
  return present;
}

/** A finder of the table's columns by name; a Map, as a job may have 100,000 columns. */
export function columnsOf(table: LocalTable): (name: string) => Column {
  const byName = new Map(table.columns.map((c) => [c.name, c]));
  return (name) => {
    const column = byName.get(name);
    if (!column) throw new Error(`the table has no column "${name}"`);
    return column;
  };
}

export function computeStatistics(table: LocalTable, spec: JobSpec): LocalStatistics {
  const columnOf = columnsOf(table);
  const targetColumn = spec.target === undefined ? undefined : columnOf(spec.target);
  // Rows without a target are dropped before training, so they must not shape the normalization either.
  const kept = targetColumn ? presentRows(targetColumn) : new Uint8Array(table.n).fill(1);
  const rows = kept.reduce((sum, k) => sum + k, 0);

  const features = spec.features.map((feature): LocalStatistics['features'][number] => {
    const column = columnOf(feature.name);
    if (feature.type === 'numeric') return { name: feature.name, type: 'numeric', ...moments(column, kept, feature.bounds) };
    return { name: feature.name, type: 'categorical', ...categoryCounts(column, kept) };
  });

  let target: LocalStatistics['target'];
  if (!targetColumn) target = { type: 'none' };
  else if (spec.model === 'linear') {
    const { count, sum, sumSquares } = moments(targetColumn, kept, spec.targetBounds);
    target = { type: 'numeric', count, sum, sumSquares };
  } else {
    target = { type: 'categorical', counts: categoryCounts(targetColumn, kept).counts };
  }
  return checked({ rows, features, target }, spec);
}

/**
 * A secure job's statistics as the site's ring input (shared/src/secagg/statistics.ts).
 * The coordinator sees only the sum of every site's, so the checks it makes on
 * one site's statistics in a plain job are the site's own here: its rows within
 * the job's limit, its classes among the declared ones (docs/robustness.md).
 */
export function secureStatisticsInput(table: LocalTable, spec: JobSpec): Uint32Array {
  const stats = computeStatistics(table, spec);
  if (stats.rows > spec.maxRowsPerParticipant) {
    // No count: the coordinator of a secure job learns no site's rows, not even in a refusal.
    throw new DataError('DATA_TOO_MANY_ROWS', {}, `${stats.rows} rows, above the job's limit of ${spec.maxRowsPerParticipant} per site`);
  }
  if (stats.target.type === 'categorical' && spec.classes) {
    const declared = new Set(spec.classes);
    const outside = stats.target.counts.reduce((n, [value, count]) => (declared.has(value) ? n : n + count), 0);
    if (outside > 0) throw new DataError('DATA_TARGET_UNKNOWN_CLASS', {}, `${outside} rows have a target value outside the job's classes`);
  }
  return encodeStatistics(stats, spec);
}

/**
 * A site's ring input to a round of a secure job's statistics phase: the
 * presence (round −2) or the values (round −1, of the buckets asked) of its
 * categories of the features whose vocabulary is gathered, or its statistics
 * (round 0); with the words per ring element.
 */
export function secureRoundInput(table: LocalTable, spec: JobSpec, job: string, round: number, frequent?: FrequentBuckets): { vector: Uint32Array; width: number } {
  if (round === 0) return { vector: secureStatisticsInput(table, spec), width: statisticsEncoding(spec).width };
  const { features } = computeStatistics(table, spec);
  const held = gatheredFeatures(spec).map((i) => {
    const f = features[i];
    return f.type === 'categorical' ? f.counts.map(([value]) => value) : [];
  });
  if (round === -2) return { vector: encodePresence(job, spec, held), width: 1 };
  if (!frequent) throw new Error('the values round names no buckets');
  return { vector: encodeValues(job, spec, held, frequent), width: 1 };
}

/**
 * The coordinator rejects statistics beyond the protocol's limits (too many
 * categories, overlong values, sums that overflow); saying so here, with the
 * column's name, is far easier to act on than a rejection from the server.
 */
function checked(stats: LocalStatistics, spec: JobSpec): LocalStatistics {
  const columns = [...stats.features.map((f, i) => ({ name: `column ${spec.features[i].name}`, f })), { name: `target ${spec.target}`, f: stats.target }];
  const overflowing = columns.filter(({ f }) => f.type === 'numeric' && !(Number.isFinite(f.sum) && Number.isFinite(f.sumSquares))).map(({ name }) => name);
  if (overflowing.length) {
    throw new Error(`the statistics cannot be reported: ${overflowing.join(', ')}: values so large (about 1e154 or more) that their sum of squares is beyond the range of numbers; is the column in the job's unit?`);
  }
  const result = LocalStatisticsSchema.safeParse(stats);
  if (result.success) return stats;
  const issues = result.error.issues.map(({ path, message }) => {
    const where =
      path[0] === 'features' && typeof path[1] === 'number'
        ? `column ${spec.features[path[1]].name}`
        : path[0] === 'target'
          ? `target ${spec.target}`
          : path.map(String).join('.');
    return `${where}: ${message}`;
  });
  throw new Error(`the statistics cannot be reported: ${[...new Set(issues)].join('; ')}`);
}
