/**
 * Reading a partner's CSV export as a stream of records, keeping the physical line
 * number where every record starts so that problems can be reported in terms the
 * data owner can find in their file. Fields are handed on as byte ranges of the
 * chunk being read: a large export is never held whole, nor turned into a string
 * per value, which is what lets numbers go straight into typed columns (ADR 0017).
 */

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

/**
 * One record, valid only during the callback that receives it: field i is the
 * bytes buffer[starts[i], ends[i]), with doubled quotes still doubled where escaped[i].
 */
export interface CsvRecord {
  buffer: Buffer;
  count: number;
  starts: Int32Array;
  ends: Int32Array;
  escaped: Uint8Array;
  line: number;
}

const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;

/** The text of field i; surrounding spaces are kept, as written. */
export function fieldText(record: CsvRecord, i: number): string {
  const text = record.buffer.toString('utf8', record.starts[i], record.ends[i]);
  return record.escaped[i] ? text.replaceAll('""', '"') : text;
}

/** A line of only spaces is an empty line to a person, though it reads as one blank field. */
function isBlank(record: CsvRecord): boolean {
  if (record.count !== 1) return false;
  for (let p = record.starts[0]; p < record.ends[0]; p++) {
    const b = record.buffer[p];
    if (b !== 0x20 && b !== 0x09 && b !== 0x0b && b !== 0x0c) return false;
  }
  return true;
}

class Incomplete {}
const INCOMPLETE = new Incomplete();

/**
 * Splits CSV bytes, given in blocks of any size, into records: RFC 4180 quoting,
 * CRLF, LF and a lone CR each end a line, a byte order mark is skipped, empty and
 * blank lines are skipped (but counted), and a stray quote inside an unquoted value
 * is kept literally, as exports like 5'11" have it.
 */
export class CsvTokenizer {
  private line = 1;
  private started = false;
  private readonly record: CsvRecord = {
    buffer: Buffer.alloc(0),
    count: 0,
    starts: new Int32Array(64),
    ends: new Int32Array(64),
    escaped: new Uint8Array(64),
    line: 1,
  };

  constructor(private readonly onRecord: (record: CsvRecord) => void) {}

  private grow(): void {
    const r = this.record;
    const size = r.starts.length * 2;
    const starts = new Int32Array(size);
    const ends = new Int32Array(size);
    const escaped = new Uint8Array(size);
    starts.set(r.starts);
    ends.set(r.ends);
    escaped.set(r.escaped);
    Object.assign(r, { starts, ends, escaped });
  }

  /**
   * Emits every complete record of buffer and returns where the first incomplete one
   * starts: the caller gives those bytes again, followed by more, in the next call.
   * With final, the end of buffer is the end of the input.
   */
  scan(buffer: Buffer, final: boolean): number {
    const n = buffer.length;
    let p = 0;
    if (!this.started) {
      if (n < 3 && !final) return 0;
      this.started = true;
      if (buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf) p = 3;
    }
    const record = this.record;
    record.buffer = buffer;
    for (;;) {
      // Line breaks between records, counted; a CR at the end may be the first half of a CRLF.
      while (p < n) {
        const b = buffer[p];
        if (b === LF) this.line++;
        else if (b === CR) {
          if (p + 1 >= n && !final) return p;
          if (buffer[p + 1] !== LF) this.line++;
        } else break;
        p++;
      }
      if (p >= n) return p;
      const start = p;
      try {
        p = this.readRecord(buffer, p, final);
      } catch (err) {
        if (err === INCOMPLETE) return start;
        throw err;
      }
      if (!isBlank(record)) this.onRecord(record);
      this.line = record.line + this.linesWithin;
    }
  }

  /** line breaks inside the quoted fields of the record just read */
  private linesWithin = 0;

  private readRecord(buffer: Buffer, p: number, final: boolean): number {
    const n = buffer.length;
    const r = this.record;
    r.line = this.line;
    r.count = 0;
    this.linesWithin = 0;
    for (;;) {
      if (r.count === r.starts.length) this.grow();
      const i = r.count++;
      if (buffer[p] === QUOTE) {
        let q = p + 1;
        let escaped = 0;
        let lines = 0;
        for (;;) {
          if (q >= n) {
            if (!final) throw INCOMPLETE;
            throw new Error(`CSV: a quoted field is never closed; the record starts at line ${r.line}`);
          }
          const b = buffer[q];
          if (b === QUOTE) {
            if (q + 1 >= n && !final) throw INCOMPLETE;
            if (buffer[q + 1] !== QUOTE) break;
            escaped = 1;
            q += 2;
            continue;
          }
          if (b === LF || (b === CR && buffer[q + 1] !== LF)) lines++;
          q++;
        }
        this.linesWithin += lines;
        r.starts[i] = p + 1;
        r.ends[i] = q;
        r.escaped[i] = escaped;
        p = q + 1;
        if (p >= n) {
          if (!final) throw INCOMPLETE;
          return p;
        }
        const b = buffer[p];
        if (b === COMMA) {
          p++;
          if (p >= n) return this.lastEmptyField(p, final);
          continue;
        }
        if (b === LF || b === CR) return p;
        throw new Error(`CSV: cannot parse the record starting at line ${r.line} (a closing quote is followed by more text)`);
      }
      let q = p;
      while (q < n) {
        const b = buffer[q];
        if (b === COMMA || b === LF || b === CR) break;
        q++;
      }
      if (q >= n && !final) throw INCOMPLETE;
      r.starts[i] = p;
      r.ends[i] = q;
      r.escaped[i] = 0;
      if (q < n && buffer[q] === COMMA) {
        p = q + 1;
        if (p >= n) return this.lastEmptyField(p, final);
        continue;
      }
      return q;
    }
  }

  /** A comma at the very end of the input ends with one more, empty field. */
  private lastEmptyField(p: number, final: boolean): number {
    if (!final) throw INCOMPLETE;
    const r = this.record;
    if (r.count === r.starts.length) this.grow();
    const i = r.count++;
    r.starts[i] = p;
    r.ends[i] = p;
    r.escaped[i] = 0;
    return p;
  }
}

/** The column names of a header record; surrounding spaces are an export artefact, never meaningful. */
export function headerOf(record: CsvRecord): string[] {
  return Array.from({ length: record.count }, (_, i) => fieldText(record, i).trim());
}

export const EMPTY_FILE = 'CSV: the file is empty; a header line with the column names is expected';

/** A whole CSV text as strings, for small files and tools; the agent streams with CsvTokenizer instead. */
export function parseCsv(text: string | Buffer): CsvTable {
  let header: string[] | undefined;
  const rows: CsvRow[] = [];
  const problems: RowProblem[] = [];
  const tokenizer = new CsvTokenizer((record) => {
    if (!header) header = headerOf(record);
    else if (record.count === header.length) {
      rows.push({ line: record.line, fields: Array.from({ length: record.count }, (_, i) => fieldText(record, i)) });
    } else problems.push({ line: record.line, reason: `expected ${header.length} fields, found ${record.count}` });
  });
  tokenizer.scan(typeof text === 'string' ? Buffer.from(text, 'utf8') : text, true);
  if (!header) throw new Error(EMPTY_FILE);
  return { header, rows, problems };
}
