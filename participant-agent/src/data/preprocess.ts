/**
 * Turns a local table into the numeric matrix a model trains on, using only the
 * global Preprocessing from the coordinator (never local means or vocabularies):
 * every site must map the same raw value to the same input, or the averaged
 * model would mean different things at different sites.
 */
import { UNKNOWN_CATEGORY, type Preprocessing } from '@fl/shared';
import { columnsOf } from './statistics';
import { MISSING_CODE, type LocalTable } from './table';

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

const width = (f: FeatureStep) => (f.type === 'numeric' ? 1 : f.vocabulary.length + 1);

/** The expanded input names, in the order of the feature vector, for reports and model inspection. */
export function featureNames(preprocessing: Preprocessing): string[] {
  return preprocessing.features.flatMap((f) =>
    f.type === 'numeric' ? [f.name] : [...f.vocabulary.map((v) => `${f.name}=${v}`), `${f.name}=${UNKNOWN_CATEGORY}`],
  );
}

/**
 * The target of the rows that can be learnt from, and those rows: a missing target
 * or a class the other sites never reported has no output to learn.
 */
export function encodeTarget(
  table: LocalTable,
  target: TargetStep,
): { rows: Uint32Array; y: Float32Array; droppedMissingTarget: number; unknownTargets: number } {
  const column = table.columns[table.columns.length - 1];
  const rows = new Uint32Array(table.n);
  const y = new Float32Array(table.n);
  let kept = 0;
  let missing = 0;
  if (target.type === 'none') {
    // kmeans: every row counts, and the labels are unread
    for (let r = 0; r < table.n; r++) rows[r] = r;
    kept = table.n;
  } else if (target.type === 'numeric') {
    if (column.type !== 'numeric') throw new Error('the target holds text but the job predicts a number');
    const scale = usableStd(target.std);
    column.values.forEach((v, r) => {
      if (Number.isNaN(v)) missing++;
      else {
        rows[kept] = r;
        y[kept++] = (v - target.mean) / scale;
      }
    });
  } else {
    if (column.type !== 'categorical') throw new Error('the target holds numbers but the job predicts a class');
    // binary: classes[0] -> 0 and classes[1] -> 1, which is the same as the class index.
    const index = new Map(target.classes.map((c, i) => [c, i]));
    const classOf = column.dictionary.map((value) => index.get(value) ?? -1);
    column.codes.forEach((code, r) => {
      if (code === MISSING_CODE) missing++;
      else if (classOf[code] >= 0) {
        rows[kept] = r;
        y[kept++] = classOf[code];
      }
    });
  }
  return { rows: rows.slice(0, kept), y: y.slice(0, kept), droppedMissingTarget: missing, unknownTargets: table.n - kept - missing };
}

/**
 * The feature matrix of the given rows: numeric features z-scored with the global
 * mean and std, a missing value taking the global mean (exactly 0: no pull either
 * way); categorical ones one-hot over the vocabulary, with missing and unseen values
 * in the unknown level.
 */
export function encodeFeatures(
  table: LocalTable,
  preprocessing: Preprocessing,
  rows: Uint32Array = Uint32Array.from({ length: table.n }, (_, r) => r),
): { n: number; d: number; x: Float32Array; imputed: Record<string, number>; unknownCategories: Record<string, number> } {
  const d = preprocessing.features.reduce((sum, f) => sum + width(f), 0);
  // A mismatch means this agent and the coordinator disagree on the layout; training would be garbage.
  if (d !== preprocessing.inputDim) throw new Error(`the features expand to ${d} inputs but the job expects ${preprocessing.inputDim}`);
  const n = rows.length;
  const x = new Float32Array(n * d);
  const imputed = record();
  const unknownCategories = record();

  // Numeric features are written row by row, a row's inputs side by side: column by column,
  // every write of a large matrix would land on a different cache line.
  const columnOf = columnsOf(table);
  const numeric: { values: Float64Array; offset: number; mean: number; scale: number; name: string }[] = [];
  for (const feature of preprocessing.features) imputed[feature.name] = 0;
  let offset = 0;
  for (const feature of preprocessing.features) {
    const column = columnOf(feature.name);
    if (feature.type === 'numeric') {
      if (column.type !== 'numeric') throw new Error('a numeric feature holds text; the table was not built for this job');
      numeric.push({ values: column.values, offset, mean: feature.mean, scale: usableStd(feature.std), name: feature.name });
    } else {
      if (column.type !== 'categorical') throw new Error('a categorical feature holds numbers; the table was not built for this job');
      const { codes, dictionary } = column;
      const unknownLevel = feature.vocabulary.length;
      const position = new Map(feature.vocabulary.map((v, i) => [v, i]));
      const levelOf = Int32Array.from(dictionary, (value) => position.get(value) ?? unknownLevel);
      let missing = 0;
      let unknown = 0;
      for (let i = 0, at = offset; i < n; i++, at += d) {
        const code = codes[rows[i]];
        let level = unknownLevel;
        if (code === MISSING_CODE) missing++;
        else {
          level = levelOf[code];
          if (level === unknownLevel) unknown++;
        }
        x[at + level] = 1;
      }
      imputed[feature.name] = missing;
      unknownCategories[feature.name] = unknown;
    }
    offset += width(feature);
  }
  const missing = new Float64Array(numeric.length);
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    const base = i * d;
    for (let f = 0; f < numeric.length; f++) {
      const { values, mean, scale } = numeric[f];
      const v = values[r];
      // A missing value takes the global mean, which z-scores to exactly 0, the array's initial value.
      if (Number.isNaN(v)) missing[f]++;
      else x[base + numeric[f].offset] = (v - mean) / scale;
    }
  }
  numeric.forEach((f, i) => (imputed[f.name] = missing[i]));
  return { n, d, x, imputed, unknownCategories };
}

export function prepare(table: LocalTable, preprocessing: Preprocessing): PreparedData {
  const { rows, y, droppedMissingTarget, unknownTargets } = encodeTarget(table, preprocessing.target);
  const { n, d, x, imputed, unknownCategories } = encodeFeatures(table, preprocessing, rows);
  return { n, d, x, y, report: { droppedMissingTarget, unknownTargets, imputed, unknownCategories } };
}
