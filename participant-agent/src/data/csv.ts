/**
 * Reading a partner's CSV export into a header and raw text rows, keeping the
 * physical line number of every record so that problems can be reported in terms
 * the data owner can find in their file. Malformed records are reported, not fatal:
 * one bad line in a large export should not stop a site from taking part.
 */
import { parse } from 'csv-parse/sync';

export interface CsvRow {
  /** 1-based physical line where the record starts (a quoted field may span lines) */
  line: number;
  fields: string[];
}

export interface RowProblem {
  line: number;
  /** never contains field contents: reports may be logged or shown to the coordinator's operators */
  reason: string;
}

export interface CsvTable {
  header: string[];
  rows: CsvRow[];
  problems: RowProblem[];
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Turns byte offsets into 1-based line numbers. Offsets must be asked for in
 * increasing order, which lets one pass over the file serve all records.
 * CRLF, LF and a lone CR each end one line, like the parser's record delimiters.
 */
function lineCounter(bytes: Uint8Array): (offset: number) => number {
  let pos = 0;
  let line = 1;
  return (offset) => {
    for (; pos < offset; pos++) {
      const b = bytes[pos];
      if (b === LF || (b === CR && bytes[pos + 1] !== LF)) line++;
    }
    return line;
  };
}

/** Skips the line breaks of empty lines, which the parser drops without emitting a record. */
function skipLineBreaks(bytes: Uint8Array, offset: number): number {
  while (offset < bytes.length && (bytes[offset] === LF || bytes[offset] === CR)) offset++;
  return offset;
}

/** A line of only spaces is an empty line to a person, though the parser sees one blank field. */
const isBlankRecord = (fields: string[]) => fields.length === 1 && fields[0].trim() === '';

export function parseCsv(text: string): CsvTable {
  // csv-parse's own line counter miscounts CRLF inside quoted fields, but its byte
  // offsets are exact, so line numbers are derived from the offsets instead.
  const bytes = Buffer.from(text, 'utf8');
  const records: { fields: string[]; start: number }[] = [];
  let end = 0;
  try {
    parse(bytes, {
      bom: true,
      relax_column_count: true,
      // A stray quote inside an unquoted value (5'11", 12" pipe) is kept literally
      // instead of failing the whole file.
      relax_quotes: true,
      skip_empty_lines: true,
      // Explicit, so that a file with mixed line endings is still split correctly.
      record_delimiter: ['\r\n', '\n', '\r'],
      on_record: (fields: string[], info) => {
        records.push({ fields, start: skipLineBreaks(bytes, end) });
        end = info.bytes;
        // Collected here rather than returned, so the parser does not keep a second copy.
        return null;
      },
    });
  } catch (err) {
    const line = lineCounter(bytes)(skipLineBreaks(bytes, end));
    const code = (err as { code?: unknown }).code;
    if (code === 'CSV_QUOTE_NOT_CLOSED') {
      throw new Error(`CSV: a quoted field is never closed; the record starts at line ${line}`);
    }
    // The parser's own message may quote field contents, so only its code is passed on.
    throw new Error(`CSV: cannot parse the record starting at line ${line} (${String(code ?? 'unknown error')})`);
  }

  const lineOf = lineCounter(bytes);
  const kept = records.filter((r) => !isBlankRecord(r.fields));
  if (kept.length === 0) throw new Error('CSV: the file is empty; a header line with the column names is expected');

  // Surrounding spaces in column names are an export artefact, never meaningful.
  const header = kept[0].fields.map((name) => name.trim());
  const rows: CsvRow[] = [];
  const problems: RowProblem[] = [];
  for (const { fields, start } of kept.slice(1)) {
    const line = lineOf(start);
    if (fields.length === header.length) rows.push({ line, fields });
    else problems.push({ line, reason: `expected ${header.length} fields, found ${fields.length}` });
  }
  return { header, rows, problems };
}
