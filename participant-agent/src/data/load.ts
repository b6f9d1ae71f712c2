/**
 * The agent's entry to its data: file to typed table, with the partner's mapping
 * applied, refusing to go on when the job's columns are not all there.
 */
import { readFileSync } from 'node:fs';
import type { JobSpec } from '@fl/shared';
import { parseCsv } from './csv';
import { DataError } from './errors';
import { applyMapping, type Mapping } from './mapping';
import { formatReport, toLocalTable, type LocalTable, type SchemaReport } from './table';

export function loadLocalData(file: string, spec: JobSpec, mapping?: Mapping): { table: LocalTable; report: SchemaReport } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new DataError('DATA_UNREADABLE', {}, `cannot read the data file ${file}: ${(err as Error).message}`);
  }
  const csv = parseCsv(text);
  const result = toLocalTable(mapping ? applyMapping(csv, mapping) : csv, spec);
  if (!result.report.ok) throw new DataError('DATA_MISSING_COLUMNS', { columns: result.report.missingColumns.length }, formatReport(result.report));
  return result;
}
