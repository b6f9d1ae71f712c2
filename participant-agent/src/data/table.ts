/**
 * From CSV text to typed values for the job's columns: the one place that decides
 * what counts as missing and what counts as a number, so that the statistics a site
 * reports and the data it trains on can never disagree.
 */
import type { JobSpec } from '@fl/shared';
import type { CsvTable } from './csv';

export type Value = string | number | null;

export interface LocalRow {
  line: number;
  /** in LocalTable.columns order; null is missing */
  values: Value[];
}

export interface LocalTable {
  /** the job's feature names in spec order, then the target */
  columns: string[];
  rows: LocalRow[];
}

export interface SchemaProblem {
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
  };
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

export function toLocalTable(csv: CsvTable, spec: JobSpec): { table: LocalTable; report: SchemaReport } {
  const columns = [...spec.features.map((f) => f.name), spec.target];
  const numeric = [...spec.features.map((f) => f.type === 'numeric'), spec.model === 'linear'];
  const index = columns.map((name) => csv.header.indexOf(name));
  for (const [i, name] of columns.entries()) {
    if (index[i] >= 0 && csv.header.indexOf(name, index[i] + 1) >= 0) {
      throw new Error(`the column "${name}" appears more than once in the header, so it is unclear which one to use`);
    }
  }

  const missingColumns = columns.filter((_, i) => index[i] < 0);
  const problems: SchemaProblem[] = csv.problems.map(({ line, reason }) => ({ line, column: '', reason }));
  const badRows = csv.problems.length;
  if (missingColumns.length > 0) {
    return {
      table: { columns, rows: [] },
      report: { ok: false, missingColumns, problems: problems.slice(0, MAX_PROBLEMS), counts: { rows: csv.rows.length, unparsable: 0, badRows } },
    };
  }

  let unparsable = 0;
  const rows = csv.rows.map(({ line, fields }): LocalRow => {
    const values = index.map((at, i): Value => {
      const text = fields[at];
      if (isMissing(text)) return null;
      if (!numeric[i]) return text.trim();
      const value = parseNumber(text);
      if (value !== undefined) return value;
      unparsable++;
      if (problems.length < MAX_PROBLEMS + badRows) problems.push({ line, column: columns[i], reason: 'not a number' });
      return null;
    });
    return { line, values };
  });

  // Row problems and value problems arrive separately; by line they read like the file.
  problems.sort((a, b) => a.line - b.line);
  return {
    table: { columns, rows },
    report: { ok: true, missingColumns, problems: problems.slice(0, MAX_PROBLEMS), counts: { rows: rows.length, unparsable, badRows } },
  };
}

export function formatReport(report: SchemaReport, maxLines = 20): string {
  const { counts } = report;
  const lines: string[] = [];
  if (!report.ok) lines.push(`The data is missing required columns: ${report.missingColumns.join(', ')}`);
  lines.push(
    `Rows read: ${counts.rows}; rows skipped for a wrong number of fields: ${counts.badRows}; ` +
      `values that are not numbers (treated as missing): ${counts.unparsable}`,
  );
  const total = counts.badRows + counts.unparsable;
  const shown = report.problems.slice(0, Math.max(0, maxLines));
  if (shown.length > 0) {
    lines.push(`Problems (${shown.length} of ${total}):`);
    for (const p of shown) lines.push(`  line ${p.line}${p.column ? `, column ${p.column}` : ''}: ${p.reason}`);
    if (total > shown.length) lines.push(`  ... and ${total - shown.length} more`);
  }
  return lines.join('\n');
}
