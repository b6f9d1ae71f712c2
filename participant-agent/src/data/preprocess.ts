/**
 * Turns a local table into the numeric matrix a model trains on, using only the
 * global Preprocessing from the coordinator (never local means or vocabularies):
 * every site must map the same raw value to the same input, or the averaged
 * model would mean different things at different sites.
 */
import { UNKNOWN_CATEGORY, type Preprocessing } from '@fl/shared';
import type { LocalTable, Value } from './table';

export interface PrepareReport {
  /** rows left out because their target was missing */
  droppedMissingTarget: number;
  /** rows left out because their target is not one of the global classes */
  unknownTargets: number;
  /** per feature: missing values replaced (numeric: by the global mean; categorical: by the unknown level) */
  imputed: Record<string, number>;
  /** per categorical feature: present values outside the global vocabulary, put in the unknown level */
  unknownCategories: Record<string, number>;
}

export interface PreparedData {
  n: number;
  d: number;
  /** n x d, row-major */
  x: Float32Array;
  /** the 0/1 label, the class index, or the standardized number */
  y: Float32Array;
  report: PrepareReport;
}

type FeatureStep = Preprocessing['features'][number];
type TargetStep = Preprocessing['target'];

// The same threshold the coordinator applies: a constant column is centred, not blown up.
const usableStd = (std: number) => (Number.isFinite(std) && std > 1e-12 ? std : 1);

/** Keys are column names from partners' files, so they must not reach Object.prototype. */
const record = (): Record<string, number> => Object.create(null) as Record<string, number>;

/** The target is the table's last column, by LocalTable's layout. */
const targetOf = (table: LocalTable) => table.columns.length - 1;

export function dropMissingTarget(table: LocalTable): { table: LocalTable; dropped: number } {
  const at = targetOf(table);
  const rows = table.rows.filter((r) => r.values[at] !== null);
  return { table: { columns: table.columns, rows }, dropped: table.rows.length - rows.length };
}

/** Missing values take the global mean, which z-scores to exactly 0: no pull in either direction. */
export function numericColumn(values: readonly Value[], mean: number, std: number): { values: number[]; imputed: number } {
  const scale = usableStd(std);
  let imputed = 0;
  const out = values.map((v) => {
    if (v === null) {
      imputed++;
      return 0;
    }
    if (typeof v !== 'number') throw new Error('a numeric feature holds text; the table was not built for this job');
    return (v - mean) / scale;
  });
  return { values: out, imputed };
}

/**
 * The one-hot position of each value: its place in the vocabulary, or
 * vocabulary.length (the unknown level) when missing or never seen by the statistics.
 */
export function categoricalColumn(
  values: readonly Value[],
  vocabulary: readonly string[],
): { levels: number[]; imputed: number; unknown: number } {
  const position = new Map(vocabulary.map((v, i) => [v, i]));
  const unknownLevel = vocabulary.length;
  let imputed = 0;
  let unknown = 0;
  const levels = values.map((v) => {
    if (v === null) {
      imputed++;
      return unknownLevel;
    }
    if (typeof v !== 'string') throw new Error('a categorical feature holds numbers; the table was not built for this job');
    const i = position.get(v);
    if (i !== undefined) return i;
    unknown++;
    return unknownLevel;
  });
  return { levels, imputed, unknown };
}

const width = (f: FeatureStep) => (f.type === 'numeric' ? 1 : f.vocabulary.length + 1);

/** The expanded input names, in the order of the feature vector, for reports and model inspection. */
export function featureNames(preprocessing: Preprocessing): string[] {
  return preprocessing.features.flatMap((f) =>
    f.type === 'numeric' ? [f.name] : [...f.vocabulary.map((v) => `${f.name}=${v}`), `${f.name}=${UNKNOWN_CATEGORY}`],
  );
}

export function encodeFeatures(
  table: LocalTable,
  preprocessing: Preprocessing,
): { n: number; d: number; x: Float32Array; imputed: Record<string, number>; unknownCategories: Record<string, number> } {
  const d = preprocessing.features.reduce((sum, f) => sum + width(f), 0);
  // A mismatch means this agent and the coordinator disagree on the layout; training would be garbage.
  if (d !== preprocessing.inputDim) throw new Error(`the features expand to ${d} inputs but the job expects ${preprocessing.inputDim}`);
  const n = table.rows.length;
  const x = new Float32Array(n * d);
  const imputed = record();
  const unknownCategories = record();

  let offset = 0;
  for (const feature of preprocessing.features) {
    const at = table.columns.indexOf(feature.name);
    if (at < 0) throw new Error(`the table has no column "${feature.name}"`);
    const values = table.rows.map((r) => r.values[at]);
    if (feature.type === 'numeric') {
      const column = numericColumn(values, feature.mean, feature.std);
      column.values.forEach((v, r) => (x[r * d + offset] = v));
      imputed[feature.name] = column.imputed;
    } else {
      const column = categoricalColumn(values, feature.vocabulary);
      column.levels.forEach((level, r) => (x[r * d + offset + level] = 1));
      imputed[feature.name] = column.imputed;
      unknownCategories[feature.name] = column.unknown;
    }
    offset += width(feature);
  }
  return { n, d, x, imputed, unknownCategories };
}

function targetEncoder(target: TargetStep): (value: Value) => number | undefined {
  if (target.type === 'numeric') {
    const scale = usableStd(target.std);
    return (v) => {
      if (v === null) return undefined;
      if (typeof v !== 'number') throw new Error('the target holds text but the job predicts a number');
      return (v - target.mean) / scale;
    };
  }
  // binary: classes[0] -> 0 and classes[1] -> 1, which is the same as the class index.
  const index = new Map(target.classes.map((c, i) => [c, i]));
  return (v) => {
    if (v === null) return undefined;
    if (typeof v !== 'string') throw new Error('the target holds numbers but the job predicts a class');
    return index.get(v);
  };
}

/**
 * Encodes the target and leaves out the rows that cannot be encoded: a class the
 * other sites never reported has no output to learn. Missing targets should have
 * been dropped before; any left over are counted as unknown here.
 */
export function encodeTarget(table: LocalTable, target: TargetStep): { table: LocalTable; y: Float32Array; unknownTargets: number } {
  const encode = targetEncoder(target);
  const at = targetOf(table);
  const rows: LocalTable['rows'] = [];
  const y: number[] = [];
  for (const row of table.rows) {
    const value = encode(row.values[at]);
    if (value === undefined) continue;
    rows.push(row);
    y.push(value);
  }
  return { table: { columns: table.columns, rows }, y: Float32Array.from(y), unknownTargets: table.rows.length - rows.length };
}

export function prepare(table: LocalTable, preprocessing: Preprocessing): PreparedData {
  const withTarget = dropMissingTarget(table);
  const labelled = encodeTarget(withTarget.table, preprocessing.target);
  const { n, d, x, imputed, unknownCategories } = encodeFeatures(labelled.table, preprocessing);
  return {
    n,
    d,
    x,
    y: labelled.y,
    report: { droppedMissingTarget: withTarget.dropped, unknownTargets: labelled.unknownTargets, imputed, unknownCategories },
  };
}
