/**
 * The agent's entry to its data: file to typed table, with the partner's mapping
 * applied, refusing to go on when the job's columns are not all there.
 */
import { readFileSync } from 'node:fs';
import type { JobSpec } from '@fl/shared';
import { parseCsv } from './csv';
import { applyMapping, type Mapping } from './mapping';
import { formatReport, toLocalTable, type LocalTable, type SchemaReport } from './table';

export function loadLocalData(file: string, spec: JobSpec, mapping?: Mapping): { table: LocalTable; report: SchemaReport } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the data file ${file}: ${(err as Error).message}`);
  }
  const csv = parseCsv(text);
  const result = toLocalTable(mapping ? applyMapping(csv, mapping) : csv, spec);
  if (!result.report.ok) throw new Error(formatReport(result.report));
  return result;
}
