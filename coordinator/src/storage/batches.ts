/**
 * Multi-row statements cut to what the databases take: rows per multi-row
 * INSERT (and names per IN list), and the bytes of retained weights per one,
 * under SQLite's and PostgreSQL's limits on bound parameters (32,766 and
 * 65,535), so that a statement of large models stays a few MiB.
 */
const INSERT_ROWS = 500;
const INSERT_BYTES = 8 * 1024 * 1024;

/** Splits rows into consecutive batches of at most INSERT_ROWS rows and (but for a single larger row) INSERT_BYTES bytes. */
export function batches<T>(rows: readonly T[], bytes: (row: T) => number = () => 0): T[][] {
  const all: T[][] = [];
  let batch: T[] = [];
  let size = 0;
  for (const row of rows) {
    const n = bytes(row);
    if (batch.length === INSERT_ROWS || (batch.length > 0 && size + n > INSERT_BYTES)) {
      all.push(batch);
      batch = [];
      size = 0;
    }
    batch.push(row);
    size += n;
  }
  if (batch.length > 0) all.push(batch);
  return all;
}
