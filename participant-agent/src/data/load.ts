/**
 * The agent's entry to its data: a CSV or Parquet file, or a PostgreSQL query,
 * streamed into typed columns with the partner's mapping applied. Nothing holds
 * the whole source at once: a file is read in blocks, a Parquet file a row group
 * at a time, a query through a cursor.
 */
import * as fs from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import type { JobSpec } from '@fl/shared';
import type { AsyncBuffer } from 'hyparquet';
import { CsvTokenizer, EMPTY_FILE, headerOf } from './csv';
import { DataError } from './errors';
import { mapHeader, type Mapping } from './mapping';
import { TableBuilder, formatReport, unconvertibleValues, type LocalTable, type SchemaReport } from './table';

/** Where a site's rows come from: a file, or a database URL with the query to run. */
export interface DataSource {
  location: string;
  query?: string;
}

export type SourceKind = 'csv' | 'parquet' | 'postgres';

export function sourceKind(location: string): SourceKind {
  if (/^postgres(ql)?:\/\//i.test(location)) return 'postgres';
  return path.extname(location).toLowerCase() === '.parquet' ? 'parquet' : 'csv';
}

/** The source as it can be named in logs and errors: a database URL loses its password. */
export function describeSource(source: DataSource): string {
  if (sourceKind(source.location) !== 'postgres') return source.location;
  try {
    const url = new URL(source.location);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return 'the database';
  }
}

/** Checks what can be checked before reading: a query needs a database, and a database a query. */
export function checkSource(source: DataSource): void {
  const database = sourceKind(source.location) === 'postgres';
  if (database && !source.query) throw new Error('a postgres:// data source needs --query "select ..."');
  if (!database && source.query) throw new Error('--query applies only to a postgres:// data source');
}

/**
 * What identifies the current content of a file without reading it: a corrected
 * file has a new size or modification time. A query has no such thing: undefined.
 */
export function sourceVersion(source: DataSource): string | undefined {
  if (sourceKind(source.location) === 'postgres') return undefined;
  try {
    // Asked at every request: a local stat takes microseconds, less than the thread-pool round trip of an asynchronous one.
    const s = fs.statSync(source.location);
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'absent';
  }
}

type Loaded = { table: LocalTable; report: SchemaReport };

export interface ReadOptions {
  /** bytes read from a CSV file at a time (default 4 MiB); tests make it tiny to put block edges everywhere */
  blockBytes?: number;
}

/** Reads the source for a job; the report says what was missing or malformed. */
export async function readLocalData(source: DataSource | string, spec: JobSpec, mapping?: Mapping, options: ReadOptions = {}): Promise<Loaded> {
  const s = typeof source === 'string' ? { location: source } : source;
  checkSource(s);
  switch (sourceKind(s.location)) {
    case 'postgres':
      return readQuery(s, spec, mapping);
    case 'parquet':
      return readParquet(s.location, spec, mapping);
    default:
      return readCsv(s.location, spec, mapping, options.blockBytes ?? READ_BLOCK);
  }
}

/**
 * As readLocalData, refusing to go on when the job's columns are not all there,
 * or when a value could not be converted to the job's units: a date format that
 * does not fit the export would otherwise misread some dates (4 March for 3
 * April) and drop others, and the model would learn from both.
 */
export async function loadLocalData(source: DataSource | string, spec: JobSpec, mapping?: Mapping, options?: ReadOptions): Promise<Loaded> {
  const result = await readLocalData(source, spec, mapping, options);
  const { report } = result;
  if (!report.ok) throw new DataError('DATA_MISSING_COLUMNS', { columns: report.missingColumns.length }, formatReport(report));
  const unconvertible = unconvertibleValues(report);
  if (unconvertible > 0) {
    const columns = report.conversions!.filter((c) => c.unconvertible > 0).length;
    // Positions, never values: the first line (row, for a query or Parquet) is where the partner starts looking.
    const firstLine = Math.min(...report.conversions!.filter((c) => c.firstLine !== undefined).map((c) => c.firstLine!));
    throw new DataError('DATA_UNCONVERTIBLE', { values: unconvertible, columns, firstLine }, formatReport(report));
  }
  return result;
}

/** Large enough that reading costs little per byte, small beside any table. */
const READ_BLOCK = 4 * 1024 * 1024;

async function readCsv(file: string, spec: JobSpec, mapping: Mapping | undefined, blockBytes: number): Promise<Loaded> {
  const cannotRead = (err: unknown) => new DataError('DATA_UNREADABLE', {}, `cannot read the data file ${file}: ${(err as Error).message}`);
  let builder: TableBuilder | undefined;
  const tokenizer = new CsvTokenizer((record) => {
    if (builder) return builder.record(record);
    const mapped = mapHeader(headerOf(record), mapping);
    builder = new TableBuilder(mapped.header, spec, mapped);
  });
  const handle = await open(file, 'r').catch((err) => {
    throw cannotRead(err);
  });
  try {
    const size = (await handle.stat()).size;
    let block = Buffer.allocUnsafe(blockBytes);
    let kept = 0;
    let done = 0;
    let estimated = false;
    for (;;) {
      if (kept === block.length) {
        // One record longer than the block: read on into a larger one.
        const larger = Buffer.allocUnsafe(block.length * 2);
        block.copy(larger, 0, 0, kept);
        block = larger;
      }
      // Awaited block by block, so the agent keeps answering its coordinator while a large file is read.
      const { bytesRead } = await handle.read(block, kept, block.length - kept, null).catch((err) => {
        throw cannotRead(err);
      });
      const end = kept + bytesRead;
      const used = tokenizer.scan(block.subarray(0, end), bytesRead === 0);
      if (bytesRead === 0) break;
      // The unfinished record moves to the front, and the next read follows it.
      block.copyWithin(0, used, end);
      kept = end - used;
      done += used;
      if (!estimated && builder && builder.seen > 0) {
        // The rows of the first block tell the rest, give or take: columns then fill in place.
        builder.reserve(Math.ceil(((builder.seen * size) / done) * 1.05) + 64);
        estimated = true;
      }
    }
  } finally {
    await handle.close();
  }
  if (!builder) throw new DataError('DATA_UNREADABLE', {}, EMPTY_FILE);
  return builder.finish();
}

/** hyparquet is an ES module, loaded only when a Parquet file is read (Node.js 20.19 or later can require it). */
async function readParquet(file: string, spec: JobSpec, mapping: Mapping | undefined): Promise<Loaded> {
  const hyparquet = await import('hyparquet');
  const handle = await open(file, 'r').catch((err: Error) => {
    throw new DataError('DATA_UNREADABLE', {}, `cannot read the data file ${file}: ${err.message}`);
  });
  try {
    return await readParquetFile(handle, file, spec, mapping, hyparquet);
  } finally {
    await handle.close();
  }
}

async function readParquetFile(
  handle: FileHandle,
  file: string,
  spec: JobSpec,
  mapping: Mapping | undefined,
  { parquetMetadataAsync, parquetRead, parquetSchema }: typeof import('hyparquet'),
): Promise<Loaded> {
  // The reader asks for byte ranges: the footer, then the column chunks of each row group.
  const buffer: AsyncBuffer = {
    byteLength: (await handle.stat()).size,
    slice: async (start, end) => {
      const bytes = new Uint8Array((end ?? buffer.byteLength) - start);
      await handle.read(bytes, 0, bytes.length, start);
      return bytes.buffer;
    },
  };
  let metadata;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (err) {
    throw new DataError('DATA_UNREADABLE', {}, `the data file ${file} is not a readable Parquet file: ${(err as Error).message}`);
  }
  const names = parquetSchema(metadata).children.map((c) => c.element.name);
  const mapped = mapHeader(names, mapping);
  const builder = new TableBuilder(mapped.header, spec, mapped, 'row');
  builder.reserve(Number(metadata.num_rows));
  // Only the job's columns are decoded, one row group at a time, and handed over column by column.
  const wanted = new Map(builder.sourceColumns().map((at) => [names[at], at]));
  // Without all the job's columns there is nothing to decode, but the rows are still counted for the report.
  if (wanted.size === 0) builder.addRows(Number(metadata.num_rows));
  let rowStart = 0;
  for (const group of wanted.size > 0 ? metadata.row_groups : []) {
    const rowEnd = rowStart + Number(group.num_rows);
    const first = builder.addRows(rowEnd - rowStart);
    const groupStart = rowStart;
    await parquetRead({
      file: buffer,
      metadata,
      columns: [...wanted.keys()],
      rowStart,
      rowEnd,
      onChunk: ({ columnName, columnData, rowStart: from }) => {
        // A chunk may reach outside the rows asked for; only those are kept.
        const start = Math.max(0, groupStart - from);
        const end = Math.max(start, Math.min(columnData.length, rowEnd - from));
        builder.columnValues(wanted.get(columnName)!, first + from + start - groupStart, columnData as ArrayLike<unknown>, start, end);
      },
    });
    rowStart = rowEnd;
  }
  return builder.finish();
}

/** Rows fetched per round trip: few enough to keep memory flat, enough to keep the connection busy. */
const CURSOR_ROWS = 10_000;

type QueryField = { name: string };
type Cursor = {
  read(rows: number, callback: (err: Error | undefined, rows: unknown[][], result: { fields: QueryField[] }) => void): void;
  close(): Promise<void>;
};

/** PostgreSQL's `date` and `timestamp` (without time zone) types, by their OIDs. */
const DATE_TYPES = new Set([1082, 1114]);

/**
 * A `date` or `timestamp` as the calendar day and time it says, in UTC: pg reads
 * them in the agent's time zone, and a date read as midnight in Paris falls on
 * the day before in UTC. Text that is no such date ('infinity') stays text.
 */
function utcDate(text: string): Date | string {
  const date = new Date(`${text.replace(' ', 'T')}${text.length === 10 ? 'T00:00:00' : ''}Z`);
  return Number.isNaN(date.getTime()) ? text : date;
}

async function readQuery(source: DataSource, spec: JobSpec, mapping: Mapping | undefined): Promise<Loaded> {
  const { Client, types } = await import('pg');
  const { default: PgCursor } = await import('pg-cursor');
  const where = describeSource(source);
  const getTypeParser = ((oid: number, format?: 'text' | 'binary') =>
    DATE_TYPES.has(oid) && format !== 'binary' ? utcDate : types.getTypeParser(oid, format)) as typeof types.getTypeParser;
  const client = new Client({ connectionString: source.location, types: { getTypeParser } });
  try {
    await client.connect();
  } catch (err) {
    throw new DataError('DATA_UNREADABLE', {}, `cannot connect to ${where}: ${(err as Error).message}`);
  }
  try {
    const cursor = client.query(new PgCursor(source.query!, [], { rowMode: 'array' })) as unknown as Cursor;
    const read = () =>
      new Promise<{ rows: unknown[][]; fields: QueryField[] }>((resolve, reject) =>
        cursor.read(CURSOR_ROWS, (err, rows, result) => (err ? reject(err) : resolve({ rows, fields: result.fields }))),
      );
    let builder: TableBuilder | undefined;
    for (;;) {
      let batch;
      try {
        batch = await read();
      } catch (err) {
        throw new DataError('DATA_UNREADABLE', {}, `the query on ${where} failed: ${(err as Error).message}`);
      }
      if (!builder) {
        const mapped = mapHeader(
          batch.fields.map((f) => f.name),
          mapping,
        );
        builder = new TableBuilder(mapped.header, spec, mapped, 'row');
      }
      for (const values of batch.rows) builder.row(values);
      if (batch.rows.length < CURSOR_ROWS) break;
    }
    await cursor.close();
    return builder.finish();
  } finally {
    await client.end();
  }
}
