/**
 * A partner's translation from their own column names and category spellings to
 * the job's: hospitals and banks rarely export "the same" data identically, and
 * editing a small JSON file beats editing the export.
 *
 *   { "columns": { "<local column>": "<job column>" },
 *     "categories": { "<job column>": { "<local value>": "<job value>" } },
 *     "conversions": { "<job column>": { "from": "USD", "to": "EUR", "rate": 0.92 } } }
 *
 * Category and conversion keys use the job's column names because they apply
 * after renaming; conversions (convert.ts) are checked against the job's
 * declared units when a job's data is read.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConversionSchema, conversionProblem, type Conversion } from './convert';
import type { CsvTable } from './csv';

const columnName = z.string().min(1).max(200);

export const MappingSchema = z.strictObject({
  columns: z.record(z.string(), columnName).optional(),
  categories: z.record(z.string(), z.record(z.string(), z.string().max(1000))).optional(),
  conversions: z
    .record(
      z.string(),
      ConversionSchema.superRefine((conversion, ctx) => {
        const problem = conversionProblem(conversion);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    )
    .optional(),
});
export type Mapping = z.infer<typeof MappingSchema>;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * zod builds records as ordinary objects, on which a "__proto__" key cannot be set,
 * so such an entry would vanish without a word; refuse it instead.
 */
function findProtoKey(json: unknown): string | null {
  if (!isObject(json)) return null;
  const has = (o: unknown) => isObject(o) && Object.hasOwn(o, '__proto__');
  if (has(json.columns)) return 'columns';
  if (has(json.categories)) return 'categories';
  if (has(json.conversions)) return 'conversions';
  if (isObject(json.categories)) {
    for (const [column, values] of Object.entries(json.categories)) if (has(values)) return `categories.${column}`;
  }
  return null;
}

export function parseMapping(json: unknown): Mapping {
  const protoAt = findProtoKey(json);
  if (protoAt !== null) throw new Error(`invalid mapping: ${protoAt}: "__proto__" cannot be used as a name`);
  const result = MappingSchema.safeParse(json);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.map(String).join('.') || '(top level)'}: ${i.message}`);
    throw new Error(`invalid mapping: ${issues.join('; ')}`);
  }
  return result.data;
}

export function loadMapping(file: string): Mapping {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the mapping file ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    // Editors on Windows like to start UTF-8 files with a BOM, which JSON.parse rejects.
    json = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new Error(`the mapping file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  try {
    return parseMapping(json);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
}

/** Own entries only, as a Map, so inherited names like "constructor" never match a column or value. */
const entries = (record: Record<string, string> | undefined) => new Map(record ? Object.entries(record) : []);

function renameHeader(header: string[], renames: Map<string, string>): string[] {
  const renamed = header.map((name) => renames.get(name) ?? name);
  const firstAt = new Map<string, number>();
  renamed.forEach((name, i) => {
    const j = firstAt.get(name);
    if (j === undefined) {
      firstAt.set(name, i);
      return;
    }
    // Columns that were already duplicated in the file are not the mapping's doing.
    if (!renames.has(header[i]) && !renames.has(header[j])) return;
    if (renames.has(header[i]) && renames.has(header[j])) {
      throw new Error(`mapping: the columns "${header[j]}" and "${header[i]}" are both renamed to "${name}"`);
    }
    const [from, existing] = renames.has(header[i]) ? [header[i], header[j]] : [header[j], header[i]];
    throw new Error(`mapping: renaming "${from}" to "${name}" clashes with the existing column "${existing}"`);
  });
  return renamed;
}

/** Per job column, the partner's spellings and the job's; spellings are matched without the padding some exports add. */
export type Respellings = Map<string, Map<string, string>>;

/** A source's header in the job's names, and what the mapping does to the values of its columns. */
export interface MappedHeader {
  header: string[];
  respellings: Respellings;
  /** per job column the file has, the mapping's conversion, checked against a job only when its data is read */
  conversions: Record<string, Conversion>;
}

/** The header with the mapping's names, and the respellings and conversions of the columns it has. */
export function mapHeader(header: string[], mapping: Mapping | undefined): MappedHeader {
  if (!mapping) return { header, respellings: new Map(), conversions: {} };
  const renamed = renameHeader(header, entries(mapping.columns));
  const respellings: Respellings = new Map();
  // A mapping may be shared across several exports; a column this file lacks is not an error.
  for (const [column, values] of Object.entries(mapping.categories ?? {})) if (renamed.includes(column)) respellings.set(column, entries(values));
  const conversions = Object.fromEntries(Object.entries(mapping.conversions ?? {}).filter(([column]) => renamed.includes(column)));
  return { header: renamed, respellings, conversions };
}

export const respell = (values: Map<string, string>, text: string): string => values.get(text.trim()) ?? text;

/** Returns a new table; the input is left as it was. */
export function applyMapping(table: CsvTable, mapping: Mapping): CsvTable {
  const { header, respellings } = mapHeader(table.header, mapping);
  const at = [...respellings].map(([column, values]) => [header.indexOf(column), values] as const);
  if (at.length === 0) return { ...table, header };
  const rows = table.rows.map((row) => {
    const fields = row.fields.slice();
    for (const [index, values] of at) if (index < fields.length) fields[index] = respell(values, fields[index]);
    return { line: row.line, fields };
  });
  return { header, rows, problems: table.problems };
}
