/**
 * The statistics phase on a participant: counts, sums and sums of squares of the
 * local data, from which the coordinator builds the global normalization and
 * vocabularies. Only aggregates leave the site, never rows.
 */
import { LocalStatisticsSchema, type JobSpec, type LocalStatistics } from '@fl/shared';
import type { LocalTable, Value } from './table';

type Moments = { count: number; sum: number; sumSquares: number };

// Plain code-unit order, the order the coordinator sorts vocabularies in; localeCompare
// could differ between machines.
const byValue = ([a]: [string, number], [b]: [string, number]) => (a < b ? -1 : a > b ? 1 : 0);

function moments(values: Value[]): Moments & { missing: number } {
  const m = { count: 0, sum: 0, sumSquares: 0, missing: 0 };
  for (const v of values) {
    if (v === null) m.missing++;
    else if (typeof v === 'number') {
      m.count++;
      m.sum += v;
      m.sumSquares += v * v;
    } else throw new Error('a numeric column holds text; the table was not built for this job');
  }
  return m;
}

function categoryCounts(values: Value[]): { counts: [string, number][]; missing: number } {
  // A Map, so that values like "__proto__" or "constructor" are counted like any other.
  const counts = new Map<string, number>();
  let missing = 0;
  for (const v of values) {
    if (v === null) missing++;
    else if (typeof v === 'string') counts.set(v, (counts.get(v) ?? 0) + 1);
    else throw new Error('a categorical column holds numbers; the table was not built for this job');
  }
  return { counts: [...counts].sort(byValue), missing };
}

export function computeStatistics(table: LocalTable, spec: JobSpec): LocalStatistics {
  const columnIndex = (name: string) => {
    const i = table.columns.indexOf(name);
    if (i < 0) throw new Error(`the table has no column "${name}"`);
    return i;
  };
  const targetAt = columnIndex(spec.target);
  // Rows without a target are dropped before training, so they must not shape the normalization either.
  const rows = table.rows.filter((r) => r.values[targetAt] !== null);
  const column = (i: number) => rows.map((r) => r.values[i]);

  const features = spec.features.map((feature): LocalStatistics['features'][number] => {
    const values = column(columnIndex(feature.name));
    if (feature.type === 'numeric') return { name: feature.name, type: 'numeric', ...moments(values) };
    return { name: feature.name, type: 'categorical', ...categoryCounts(values) };
  });

  const targets = column(targetAt);
  let target: LocalStatistics['target'];
  if (spec.model === 'linear') {
    const { count, sum, sumSquares } = moments(targets);
    target = { type: 'numeric', count, sum, sumSquares };
  } else {
    target = { type: 'categorical', counts: categoryCounts(targets).counts };
  }
  return checked({ rows: rows.length, features, target }, spec);
}

/**
 * The coordinator rejects statistics beyond the protocol's limits (too many
 * categories, overlong values, sums that overflow); saying so here, with the
 * column's name, is far easier to act on than a rejection from the server.
 */
function checked(stats: LocalStatistics, spec: JobSpec): LocalStatistics {
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
