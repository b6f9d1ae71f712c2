/**
 * From a source's records to typed columns for the job's columns: the one place
 * that decides what counts as missing and what counts as a number, so that the
 * statistics a site reports and the data it trains on can never disagree.
 * Numbers go to a Float64Array and categories to codes into a dictionary, so a
 * table costs about 8 bytes a value however it was written (ADR 0017).
 */
import type { JobSpec } from '@fl/shared';
import { daysOfDate, resolveConversions, type Conversion, type ResolvedConversion } from './convert';
import { fieldText, type CsvRecord, type CsvTable } from './csv';
import { mapHeader, respell, type Mapping, type Respellings } from './mapping';

export type Value = string | number | null;

/** the code of a missing value in a categorical column */
export const MISSING_CODE = 0xffffffff;

export type Column =
  /** NaN is missing: parsed numbers are always finite */
  | { name: string; type: 'numeric'; values: Float64Array }
  | { name: string; type: 'categorical'; codes: Uint32Array; dictionary: string[] };

export interface LocalTable {
  /** the job's features in spec order, then the target */
  columns: Column[];
  n: number;
}

export interface SchemaProblem {
  /** the physical line of a file; the row number (from 1) for a query or a Parquet file */
  line: number;
  /** '' when the whole row is unusable */
  column: string;
  /** never the offending value: the report may be logged */
  reason: string;
}

export interface SchemaReport {
  /** false only when required columns are missing; problems in single values are tolerated */
  ok: boolean;
  missingColumns: string[];
  /** the first MAX_PROBLEMS problems by line; counts has the totals */
  problems: SchemaProblem[];
  counts: {
    /** rows with the right number of fields; when !ok the table is left empty all the same */
    rows: number;
    /** values that should have been numbers and were treated as missing */
    unparsable: number;
    /** rows left out because they had the wrong number of fields */
    badRows: number;
    /** distinct category spellings with bytes that are not UTF-8 (a file in another encoding): they match no other site's */
    notUtf8?: number;
  };
  /** set when problems are numbered by row rather than by line */
  unit?: 'row';
  /** set when values were converted (a mapping's conversions, a date feature): per column, what and how many */
  conversions?: ConversionReport[];
}

export interface ConversionReport {
  column: string;
  /** what was done, in words: "USD -> EUR at 0.92", "date DD/MM/YYYY -> days since 1970-01-01" */
  conversion: string;
  /** values converted; missing values and values that are not numbers are not */
  converted: number;
  /** values present that could not be converted, each a problem by line and column */
  unconvertible: number;
  /** where the first of those is */
  firstLine?: number;
}

/** What the mapping does to the values of a source's columns, by job column name (mapHeader gives it). */
export interface ValueMapping {
  respellings?: Respellings;
  conversions?: Readonly<Record<string, Conversion>>;
}

/**
 * A bound on the problems kept: a wrongly formatted column in a large export
 * (say decimal commas) would otherwise produce one object per row.
 */
export const MAX_PROBLEMS = 1000;

const MISSING = new Set(['', 'na', 'nan', 'null', '?']);

export function isMissing(text: string): boolean {
  return MISSING.has(text.trim().toLowerCase());
}

// Number() alone would also accept hexadecimal, binary and octal literals ("0x1A").
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** A finite decimal number, or undefined; "12abc", "1,5" and "Infinity" are not numbers. */
export function parseNumber(text: string): number | undefined {
  const trimmed = text.trim();
  if (!DECIMAL.test(trimmed)) return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}

const POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * A plain decimal read straight from bytes, or NaN when it is not one this can read
 * exactly (then parseNumber decides on the text). With at most 15 significant digits
 * and a power of ten up to 22, both operands are exact doubles and the one rounding
 * is the correct one, so the result is always the same as Number(text).
 */
function decimalFromBytes(b: Buffer, start: number, end: number): number {
  let p = start;
  const negative = b[p] === 0x2d;
  if (negative || b[p] === 0x2b) p++;
  let mantissa = 0;
  let digits = 0;
  let exponent = 0;
  let any = false;
  for (; p < end; p++) {
    const c = b[p] - 0x30;
    if (c < 0 || c > 9) break;
    if (mantissa !== 0 || c !== 0) digits++;
    mantissa = mantissa * 10 + c;
    any = true;
  }
  if (p < end && b[p] === 0x2e) {
    for (p++; p < end; p++) {
      const c = b[p] - 0x30;
      if (c < 0 || c > 9) break;
      if (mantissa !== 0 || c !== 0) digits++;
      mantissa = mantissa * 10 + c;
      exponent--;
      any = true;
    }
  }
  if (!any || digits > 15) return NaN;
  if (p < end && (b[p] | 0x20) === 0x65) {
    p++;
    const negativeExponent = b[p] === 0x2d;
    if (negativeExponent || b[p] === 0x2b) p++;
    let value = 0;
    const from = p;
    for (; p < end && p - from < 4; p++) {
      const c = b[p] - 0x30;
      if (c < 0 || c > 9) return NaN;
      value = value * 10 + c;
    }
    if (p === from) return NaN;
    exponent += negativeExponent ? -value : value;
  }
  if (p !== end || exponent < -22 || exponent > 22) return NaN;
  const value = exponent < 0 ? mantissa / POWERS_OF_TEN[-exponent] : mantissa * POWERS_OF_TEN[exponent];
  return negative ? -value : value;
}

/** The first columns' size, in bytes for all of them, before a source says how many rows to expect. */
const FIRST_BYTES = 16 * 1024 * 1024;

interface ColumnState {
  name: string;
  /** index in the source's header */
  at: number;
  respellings: Map<string, string> | undefined;
}

interface NumericState extends ColumnState {
  conversion: ResolvedConversion | undefined;
  unconvertible: number;
  firstLine: number | undefined;
}

interface CategoricalState extends ColumnState {
  dictionary: string[];
  byValue: Map<string, number>;
  /** Most exports spell a category the same way every time: one lookup per value as written. */
  byText: Map<string, number>;
}

/** The table's first n rows, as views of its columns (no copy). */
export function firstRows(table: LocalTable, n: number): LocalTable {
  const columns = table.columns.map((c): Column => (c.type === 'numeric' ? { ...c, values: c.values.subarray(0, n) } : { ...c, codes: c.codes.subarray(0, n) }));
  return { columns, n: Math.min(n, table.n) };
}

/**
 * What of a job the table built for it depends on: its columns as it types and
 * converts them. Jobs alike in it can share one table; their models, training
 * settings, bounds and vocabularies do not change what is read.
 */
export function tableLayout(spec: JobSpec): unknown {
  return {
    features: spec.features.map((f) => (f.type === 'numeric' ? { name: f.name, type: f.type, unit: f.unit ?? null, format: f.format ?? null } : { name: f.name, type: f.type })),
    target: spec.target === undefined ? null : { name: spec.target, numeric: spec.model === 'linear' },
  };
}

/**
 * Collects a source's rows into a LocalTable for one job, writing each value in
 * place in its column's typed array. Arrays grow by half when full, one column at
 * a time; a source that can tell its size calls reserve and they never copy.
 */
export class TableBuilder {
  readonly missingColumns: string[];
  /** the job's columns in order: which list, and where in it */
  private readonly order: { type: Column['type']; slot: number }[] = [];
  private readonly numeric: NumericState[] = [];
  private readonly categorical: CategoricalState[] = [];
  /** per numeric column: read from CSV bytes directly (no respellings to apply first, not a date) */
  private readonly direct: boolean[] = [];
  /** per numeric column: a linear conversion to apply to the number read */
  private readonly linear: boolean[] = [];
  // Factors and counts in typed arrays, read and written once per value: the loop over values stays tight.
  private scales = new Float64Array(0);
  private offsets = new Float64Array(0);
  /** per numeric column: values converted */
  private converted = new Float64Array(0);
  private numbers: Float64Array[] = [];
  private codes: Uint32Array[] = [];
  private capacity = 0;
  private readonly problems: SchemaProblem[] = [];
  private rows = 0;
  private badRows = 0;
  private unparsable = 0;
  private notUtf8 = 0;
  private line = 0;

  constructor(
    private readonly header: string[],
    spec: JobSpec,
    mapping: ValueMapping = {},
    private readonly unit: 'line' | 'row' = 'line',
  ) {
    const respellings = mapping.respellings ?? new Map<string, Map<string, string>>();
    // The target last, where the job has one (kmeans has none).
    const names = [...spec.features.map((f) => f.name), ...(spec.target === undefined ? [] : [spec.target])];
    const numeric = [...spec.features.map((f) => f.type === 'numeric'), spec.model === 'linear'];
    // A Map, as a job may have 100,000 columns.
    const position = new Map<string, number>();
    const repeated = new Set<string>();
    header.forEach((name, i) => (position.has(name) ? repeated.add(name) : position.set(name, i)));
    const index = names.map((name) => position.get(name) ?? -1);
    for (const name of names) {
      if (repeated.has(name)) throw new Error(`the column "${name}" appears more than once in the header, so it is unclear which one to use`);
    }
    this.missingColumns = names.filter((_, i) => index[i] < 0);
    if (this.missingColumns.length > 0) return;
    const conversions = resolveConversions(spec, mapping.conversions);
    names.forEach((name, i) => {
      const state = { name, at: index[i], respellings: respellings.get(name) };
      if (numeric[i]) {
        const conversion = conversions.get(name);
        this.order.push({ type: 'numeric', slot: this.numeric.length });
        this.numeric.push({ ...state, conversion, unconvertible: 0, firstLine: undefined });
        this.direct.push(!state.respellings && conversion?.kind !== 'date');
        this.linear.push(conversion?.kind === 'linear');
      } else {
        this.order.push({ type: 'categorical', slot: this.categorical.length });
        this.categorical.push({ ...state, dictionary: [], byValue: new Map(), byText: new Map() });
      }
    });
    this.scales = Float64Array.from(this.numeric, (c) => (c.conversion?.kind === 'linear' ? c.conversion.scale : 1));
    this.offsets = Float64Array.from(this.numeric, (c) => (c.conversion?.kind === 'linear' ? c.conversion.offset : 0));
    this.converted = new Float64Array(this.numeric.length);
    this.resize(Math.max(64, Math.floor(FIRST_BYTES / (8 * names.length))));
  }

  /** Where in the source's header the job's columns are: the only ones a columnar source needs to decode. */
  sourceColumns(): number[] {
    return [...this.numeric, ...this.categorical].map((c) => c.at);
  }

  /** rows read so far, usable or not */
  get seen(): number {
    return this.rows + this.badRows;
  }

  /** Makes room for this many rows in all, when the source can tell or estimate it. */
  reserve(rows: number): void {
    if (rows > this.capacity && this.order.length > 0) this.resize(rows);
  }

  private resize(capacity: number): void {
    // One column at a time, so that growing never needs room for two whole tables.
    this.numbers = this.numbers.length ? this.numbers.map((old) => grown(old, new Float64Array(capacity))) : this.numeric.map(() => new Float64Array(capacity));
    this.codes = this.codes.length ? this.codes.map((old) => grown(old, new Uint32Array(capacity))) : this.categorical.map(() => new Uint32Array(capacity));
    this.capacity = capacity;
  }

  /** The row about to be written, with room made for it. */
  private nextRow(): number {
    if (this.rows === this.capacity && this.order.length > 0) this.resize(Math.ceil(this.capacity * 1.5));
    return this.rows++;
  }

  private problem(column: string, reason: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push({ line: this.line, column, reason });
  }

  /** A numeric column's value from text, converted; NaN when missing, not a number or not convertible (both reported). */
  private numberOf(k: number, raw: string): number {
    const column = this.numeric[k];
    const spelled = column.respellings ? respell(column.respellings, raw) : raw;
    if (isMissing(spelled)) return NaN;
    const { conversion } = column;
    if (conversion?.kind === 'date') {
      const days = conversion.parse(spelled);
      return days === undefined ? this.unconvertible(column, `not a date in the format ${conversion.format}`) : this.counted(k, days);
    }
    const value = parseNumber(spelled);
    if (value !== undefined) return conversion ? this.convert(k, value) : value;
    this.unparsable++;
    this.problem(column.name, 'not a number');
    return NaN;
  }

  /** A number read from a column with a linear conversion, in the job's unit. */
  private convert(k: number, value: number): number {
    const converted = value * this.scales[k] + this.offsets[k];
    // x - x is 0 for a finite x only.
    if (converted - converted === 0) {
      this.converted[k]++;
      return converted;
    }
    return this.unconvertible(this.numeric[k], 'out of range once converted');
  }

  private counted(k: number, value: number): number {
    this.converted[k]++;
    return value;
  }

  /** Reported by line and column, never by value: the report may be logged, and its counts are sent. */
  private unconvertible(column: NumericState, reason: string): number {
    column.unconvertible++;
    // A columnar source goes column by column, so the first met is not always the first by row.
    column.firstLine = Math.min(column.firstLine ?? Infinity, this.line);
    this.problem(column.name, reason);
    return NaN;
  }

  /** A numeric column's value from a typed source, read as row() and columnValues() document. */
  private typedNumber(k: number, value: unknown): number {
    const column = this.numeric[k];
    if (typeof value === 'number' && !column.respellings && !(column.conversion?.kind === 'date')) {
      // NaN from a typed source (a float column) is missing, as pandas has it; Infinity is not a number.
      if (Number.isNaN(value)) return value;
      if (Number.isFinite(value)) return column.conversion ? this.convert(k, value) : value;
    }
    // A date column of a typed source is already a date: the day it falls on, in UTC.
    if (value instanceof Date && column.conversion?.kind === 'date' && !Number.isNaN(value.getTime())) return this.counted(k, daysOfDate(value));
    return this.numberOf(k, textOf(value));
  }

  private codeOf(column: CategoricalState, raw: string): number {
    let code = column.byText.get(raw);
    if (code !== undefined) return code;
    // Decoding puts U+FFFD for bytes that are not UTF-8: "Zürich" written in Windows-1252 would silently be another category than the others'.
    if (raw.includes('\uFFFD')) {
      this.notUtf8++;
      this.problem(column.name, 'bytes that are not UTF-8: is the file in another encoding? Export it as UTF-8');
    }
    const spelled = column.respellings ? respell(column.respellings, raw) : raw;
    if (isMissing(spelled)) code = MISSING_CODE;
    else {
      const value = spelled.trim();
      code = column.byValue.get(value);
      if (code === undefined) {
        code = column.dictionary.length;
        column.dictionary.push(value);
        column.byValue.set(value, code);
      }
    }
    // Bounded, so that a column of unique values (an identifier) is not held twice.
    if (column.byText.size < 100_000) column.byText.set(raw, code);
    return code;
  }

  /** A row the source left out, for the counts and the report. */
  skipped(line: number, reason: string): void {
    this.line = line;
    this.badRows++;
    this.problem('', reason);
  }

  private wrongWidth(line: number, found: number): void {
    this.skipped(line, `expected ${this.header.length} fields, found ${found}`);
  }

  /** One CSV record after the header. */
  record(record: CsvRecord): void {
    if (record.count !== this.header.length) return this.wrongWidth(record.line, record.count);
    this.line = record.line;
    const r = this.nextRow();
    const { buffer, starts, ends, escaped } = record;
    const { numeric, direct, linear, numbers } = this;
    for (let k = 0; k < numeric.length; k++) {
      const at = numeric[k].at;
      let value = direct[k] && !escaped[at] ? decimalFromBytes(buffer, starts[at], ends[at]) : NaN;
      if (value !== value) value = this.numberOf(k, fieldText(record, at));
      else if (linear[k]) value = this.convert(k, value);
      numbers[k][r] = value;
    }
    for (let k = 0; k < this.categorical.length; k++) {
      const column = this.categorical[k];
      this.codes[k][r] = this.codeOf(column, fieldText(record, column.at));
    }
  }

  /**
   * One row of a typed source, its values in header order: null and undefined are
   * missing, numbers and text are read like CSV fields, anything else as its text.
   */
  row(values: readonly unknown[], line = this.rows + this.badRows + 1): void {
    if (values.length !== this.header.length) return this.wrongWidth(line, values.length);
    this.line = line;
    const r = this.nextRow();
    for (let k = 0; k < this.numeric.length; k++) this.numbers[k][r] = this.typedNumber(k, values[this.numeric[k].at]);
    for (let k = 0; k < this.categorical.length; k++) {
      const column = this.categorical[k];
      this.codes[k][r] = this.codeOf(column, textOf(values[column.at]));
    }
  }

  /**
   * Room for `count` more rows of a columnar source, whose values then come by
   * columnValues; returns the index of the first.
   */
  addRows(count: number): number {
    const first = this.rows;
    if (first + count > this.capacity && this.order.length > 0) this.resize(Math.max(first + count, Math.ceil(this.capacity * 1.5)));
    this.rows += count;
    return first;
  }

  /** values[start, end) of the source's column `at`, for the rows from `first` on, read as row() reads them. */
  columnValues(at: number, first: number, values: ArrayLike<unknown>, start = 0, end = values.length): void {
    const shift = first - start;
    const k = this.numeric.findIndex((c) => c.at === at);
    if (k >= 0) {
      const column = this.numeric[k];
      const plain = !column.respellings && !column.conversion;
      const out = this.numbers[k];
      for (let i = start; i < end; i++) {
        const value = values[i];
        if (plain && typeof value === 'number' && (Number.isFinite(value) || Number.isNaN(value))) out[shift + i] = value;
        else {
          this.line = shift + i + 1;
          out[shift + i] = this.typedNumber(k, value);
        }
      }
      return;
    }
    const c = this.categorical.findIndex((column) => column.at === at);
    if (c < 0) return;
    const out = this.codes[c];
    for (let i = start; i < end; i++) out[shift + i] = this.codeOf(this.categorical[c], textOf(values[i]));
  }

  finish(): { table: LocalTable; report: SchemaReport } {
    const n = this.rows;
    // A columnar source reports column by column; by row they read like the source.
    this.problems.sort((a, b) => a.line - b.line);
    // An estimate well over the rows read would hold memory for nothing: such columns are copied to size.
    const fit = <T extends Float64Array | Uint32Array>(array: T): T => (array.length > n * 1.1 + 64 ? (array.slice(0, n) as T) : (array.subarray(0, n) as T));
    const columns = this.order.map(({ type, slot }): Column => {
      if (type === 'numeric') {
        const values = fit(this.numbers[slot]);
        this.numbers[slot] = new Float64Array(0);
        return { name: this.numeric[slot].name, type, values };
      }
      const codes = fit(this.codes[slot]);
      this.codes[slot] = new Uint32Array(0);
      const { name, dictionary } = this.categorical[slot];
      return { name, type, codes, dictionary };
    });
    const table: LocalTable = { columns, n: columns.length ? n : 0 };
    const report: SchemaReport = {
      ok: this.missingColumns.length === 0,
      missingColumns: this.missingColumns,
      problems: this.problems,
      counts: { rows: this.rows, unparsable: this.unparsable, badRows: this.badRows, ...(this.notUtf8 > 0 && { notUtf8: this.notUtf8 }) },
    };
    if (this.unit === 'row') report.unit = 'row';
    const converting = this.numeric.flatMap((c, k) => (c.conversion ? [{ ...c, converted: this.converted[k] }] : []));
    if (converting.length > 0) {
      report.conversions = converting.map((c) => ({
        column: c.name,
        conversion: c.conversion!.description,
        converted: c.converted,
        unconvertible: c.unconvertible,
        ...(c.firstLine === undefined ? {} : { firstLine: c.firstLine }),
      }));
    }
    return { table, report };
  }
}

function grown<T extends Float64Array | Uint32Array>(old: T, next: T): T {
  next.set(old.subarray(0, Math.min(old.length, next.length)) as never);
  return next;
}

/** A typed source's value as the text a CSV would have: missing is empty. */
function textOf(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  // An invalid date (a Parquet timestamp out of range) has no ISO form: "Invalid Date" is not a number, nor a date.
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? String(value) : value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8');
  return String(value);
}

/** A CSV already read into strings, typed for a job (through a mapping, if given): for small files, tests and the simulator. */
export function toLocalTable(csv: CsvTable, spec: JobSpec, mapping?: Mapping): { table: LocalTable; report: SchemaReport } {
  const mapped = mapHeader(csv.header, mapping);
  const builder = new TableBuilder(mapped.header, spec, mapped);
  // Rows and the rows left out, in the order of the file, so problems come by line.
  let p = 0;
  const skippedBefore = (line: number) => {
    for (; p < csv.problems.length && csv.problems[p].line < line; p++) builder.skipped(csv.problems[p].line, csv.problems[p].reason);
  };
  for (const row of csv.rows) {
    skippedBefore(row.line);
    builder.row(row.fields, row.line);
  }
  skippedBefore(Infinity);
  return builder.finish();
}

/** The value of column c at row r, as the table's users see it. */
export function valueAt(column: Column, r: number): Value {
  if (column.type === 'numeric') return Number.isNaN(column.values[r]) ? null : column.values[r];
  const code = column.codes[r];
  return code === MISSING_CODE ? null : column.dictionary[code];
}

/** The table as rows of values, for tests and small inspections. */
export function rowsOf(table: LocalTable): Value[][] {
  return Array.from({ length: table.n }, (_, r) => table.columns.map((c) => valueAt(c, r)));
}

/**
 * A table from rows of values; a column is numeric when it holds a number (or
 * types says so), and categorical otherwise. For tests and tools: sources go
 * through TableBuilder.
 */
export function tableOf(names: string[], rows: Value[][], types?: Column['type'][]): LocalTable {
  const columns = names.map((name, c): Column => {
    const values = rows.map((row) => row[c]);
    const type = types?.[c] ?? (values.some((v) => typeof v === 'number') ? 'numeric' : 'categorical');
    if (values.some((v) => v !== null && typeof v !== (type === 'numeric' ? 'number' : 'string'))) {
      throw new Error(`the column "${name}" holds values of another type than ${type}`);
    }
    if (type === 'numeric') return { name, type, values: Float64Array.from(values, (v) => (v === null ? NaN : (v as number))) };
    const dictionary = [...new Set(values.filter((v): v is string => v !== null))];
    return { name, type, codes: Uint32Array.from(values, (v) => (v === null ? MISSING_CODE : dictionary.indexOf(v as string))), dictionary };
  });
  return { columns, n: rows.length };
}

export function formatReport(report: SchemaReport, maxLines = 20): string {
  const { counts } = report;
  const unit = report.unit ?? 'line';
  const lines: string[] = [];
  if (!report.ok) lines.push(`The data is missing required columns: ${report.missingColumns.join(', ')}`);
  lines.push(
    `Rows read: ${counts.rows}; rows skipped for a wrong number of fields: ${counts.badRows}; ` +
      `values that are not numbers (treated as missing): ${counts.unparsable}`,
  );
  if (counts.notUtf8) lines.push(`Category spellings with bytes that are not UTF-8 (they match no other site's): ${counts.notUtf8}`);
  const unconvertible = unconvertibleValues(report);
  for (const c of report.conversions ?? []) {
    lines.push(`Converted ${c.column}: ${c.conversion}: ${c.converted} values${c.unconvertible ? `; ${c.unconvertible} values that cannot be converted` : ''}`);
  }
  const total = counts.badRows + counts.unparsable + (counts.notUtf8 ?? 0) + unconvertible;
  const shown = report.problems.slice(0, Math.max(0, maxLines));
  if (shown.length > 0) {
    lines.push(`Problems (${shown.length} of ${total}):`);
    for (const p of shown) lines.push(`  ${unit} ${p.line}${p.column ? `, column ${p.column}` : ''}: ${p.reason}`);
    if (total > shown.length) lines.push(`  ... and ${total - shown.length} more`);
  }
  return lines.join('\n');
}

/** Values present in the source that its conversions could not convert, over all columns. */
export function unconvertibleValues(report: SchemaReport): number {
  return (report.conversions ?? []).reduce((sum, c) => sum + c.unconvertible, 0);
}
