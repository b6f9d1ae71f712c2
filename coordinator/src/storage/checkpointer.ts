/**
 * Copies the store's write-ahead log back into its database file (a WAL
 * checkpoint) on a worker thread with its own connection, instead of in the
 * commit that happens to cross SQLite's threshold.
 *
 * Left to SQLite, the checkpoint runs inside that commit, on the event loop,
 * and ends with two fsyncs: every ~16 rounds of a 1,000,000-weight model (64
 * MiB of log), one round's commit took ~70 ms instead of ~5 (timed in the
 * benchmark's rounds), and agents and dashboards waited meanwhile. A PASSIVE
 * checkpoint from another connection never blocks the writer, so the worker
 * can take its time.
 */
import { Worker } from 'node:worker_threads';

/** How often the worker checkpoints; with nothing new in the log, a checkpoint only reads its header. */
const EVERY_MS = 1000;

/**
 * Plain JavaScript, evaluated, so that it runs the same from the sources and
 * the build; it requires the driver by the path the store resolved.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
const timer = setInterval(() => db.pragma('wal_checkpoint(PASSIVE)'), workerData.everyMs);
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export class Checkpointer {
  private readonly worker: Worker;

  /**
   * `failed` is told once if the worker cannot checkpoint (e.g. it cannot open the file); it has
   * stopped then. What it is told is what crossed from the worker: SQLite's errors arrive as
   * plain objects with their `code`.
   */
  constructor(file: string, failed: (reason: unknown) => void, everyMs = EVERY_MS) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver: require.resolve('better-sqlite3'), everyMs } });
    // Never what keeps a process alive.
    this.worker.unref();
    this.worker.once('error', failed);
  }

  /** Stops the worker after the checkpoint under way, if any; its connection closes. */
  stop(): void {
    this.worker.postMessage('stop');
  }
}
