/**
 * The simulator's view of its one CSV file: read it, infer each column's type and
 * the model kind from the values (unless the user says otherwise), and check
 * every column the user names, before anything starts.
 */
import * as fs from 'node:fs';
import { type Feature, type ModelKind } from '@fl/shared';
import { isMissing, parseCsv, parseNumber, type CsvRow, type CsvTable } from '@fl/participant-agent';
import { byCodeUnits } from './partition';

/** A mistake in what the user asked for (a flag, a value, a column name), as opposed to a failure while running. */
import { UsageError } from '@fl/shared';

export { UsageError };

export function readCsvFile(file: string): CsvTable {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const { code } = err as NodeJS.ErrnoException;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new Error(`cannot read ${file}: ${why}`);
  }
  const table = parseCsv(text);
  if (table.header.length === 0 || table.rows.length === 0) throw new Error(`${file} has no data rows under a header`);
  const repeated = table.header.find((name, i) => table.header.indexOf(name) !== i);
  if (repeated !== undefined) throw new Error(`${file} has the column "${repeated}" more than once`);
  return table;
}

/** The index of a column, or a UsageError that lists the columns there are. */
export function columnIndex(table: CsvTable, column: string, file: string, role: string): number {
  const at = table.header.indexOf(column);
  if (at >= 0) return at;
  const shown = table.header.length > 12 ? `${table.header.slice(0, 12).join(', ')}, …` : table.header.join(', ');
  throw new UsageError(`${role}: ${file} has no column "${column}" (columns: ${shown})`);
}

/** The non-missing values of a column, trimmed as the agents read them. */
export function presentValues(table: CsvTable, at: number): string[] {
  return table.rows.map((r) => r.fields[at]).filter((v) => !isMissing(v)).map((v) => v.trim());
}

/** Numeric when every value present is a decimal number, as the agents parse numbers; else categorical. */
export function inferType(values: readonly string[]): Feature['type'] {
  return values.every((v) => parseNumber(v) !== undefined) ? 'numeric' : 'categorical';
}

/**
 * From the target's values: two distinct values make a logistic model, more
 * text values a softmax one, more numbers a linear one. A numeric target with
 * a handful of values (a rating) is ambiguous; --model settles it.
 */
export function inferModel(values: readonly string[], target: string): ModelKind {
  const distinct = new Set(values).size;
  if (distinct < 2) throw new UsageError(`the target ${target} has ${distinct === 0 ? 'no values' : 'a single value'}; there is nothing to learn`);
  if (distinct === 2) return 'logistic';
  return inferType(values) === 'numeric' ? 'linear' : 'softmax';
}

/** Checks that a model kind fits the target's values; returns the distinct classes of a classifier's target. */
export function checkTarget(values: readonly string[], target: string, model: ModelKind): string[] {
  const classes = [...new Set(values)].sort(byCodeUnits);
  if (model === 'linear') {
    if (inferType(values) !== 'numeric') throw new UsageError(`--model linear needs a numeric target, and ${target} holds values that are not numbers`);
    return [];
  }
  if (model === 'logistic' && classes.length !== 2) {
    throw new UsageError(`--model logistic needs a target with 2 classes; ${target} has ${classes.length} (use --model softmax)`);
  }
  if (classes.length < 2) throw new UsageError(`the target ${target} has fewer than 2 classes`);
  return classes;
}

/**
 * Every column but the target, in file order, typed by inference unless listed
 * in `numeric` or `categorical`.
 */
export function inferFeatures(
  table: CsvTable,
  target: string | undefined,
  overrides: { numeric: readonly string[]; categorical: readonly string[]; file: string },
): Feature[] {
  const { numeric, categorical, file } = overrides;
  for (const [flag, names] of [['--numeric', numeric], ['--categorical', categorical]] as const) {
    for (const name of names) {
      columnIndex(table, name, file, flag);
      if (name === target) throw new UsageError(`${flag}: ${name} is the target, not a feature`);
    }
  }
  const both = numeric.filter((name) => categorical.includes(name));
  if (both.length > 0) throw new UsageError(`${both.join(', ')} cannot be both --numeric and --categorical`);
  return table.header
    .map((name, at) => ({ name, at }))
    .filter(({ name }) => name !== target)
    .map(({ name, at }): Feature => {
      if (numeric.includes(name)) return { name, type: 'numeric' };
      if (categorical.includes(name)) return { name, type: 'categorical' };
      return { name, type: inferType(presentValues(table, at)) };
    });
}

/**
 * What a secure job must declare for its statistics phase, read off the
 * training rows: each numeric column's [min, max], each categorical column's
 * values, a linear target's range. A simulator convenience: it holds every
 * party's rows, where a real consortium agrees on these beforehand.
 */
export function declaredDomain(
  table: CsvTable,
  rows: readonly CsvRow[],
  features: readonly Feature[],
  target: string | undefined,
): { features: Feature[]; targetBounds?: [number, number] } {
  const values = (name: string) => {
    const at = table.header.indexOf(name);
    return rows.map((r) => r.fields[at]).filter((v) => !isMissing(v)).map((v) => v.trim());
  };
  const range = (name: string): [number, number] => {
    let [min, max] = [Infinity, -Infinity];
    for (const v of values(name)) {
      const x = parseNumber(v);
      if (x === undefined) continue;
      if (x < min) min = x;
      if (x > max) max = x;
    }
    if (min > max) return [0, 1];
    // Bounds need min below max: a constant column gets room either side.
    return min < max ? [min, max] : [min - 1, max + 1];
  };
  return {
    features: features.map((f) => (f.type === 'numeric' ? { ...f, bounds: range(f.name) } : { ...f, categories: [...new Set(values(f.name))].sort(byCodeUnits) })),
    ...(target !== undefined && { targetBounds: range(target) }),
  };
}
