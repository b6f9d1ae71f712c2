/**
 * The two checks of a received update's bytes that read every byte, its
 * SHA-256 and whether every value is finite, on another thread. At
 * d = 1,000,000 they cost ~3 ms of the coordinator's thread per update, and in
 * a round of five the updates arrive while the agents still hold the other
 * core, then queue on the coordinator's thread while that core is idle.
 *
 * The bytes move to the worker and back (transferred, not copied), so only
 * bytes that are a whole buffer of their own go: a view into a larger buffer
 * (a frame holding more than the weights) is checked on the calling thread,
 * as are small updates, for which the round trip to the thread costs about as
 * much as the checks. The worker answers in order, so updates are folded in
 * the order they arrived. It is plain node:crypto code plus allFinite's own
 * source (no module of this package), so it runs the same from the sources or
 * the build.
 */
import { allFinite, LITTLE_ENDIAN_HOST, sha256Hex } from '../codec/weights';
import { LazyThread } from './lazy-thread';

/** Below this many bytes (~0.8 ms of checks here) updates are checked on the calling thread. */
export const PARALLEL_CHECK_MIN_BYTES = 1024 * 1024;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const allFinite = ${allFinite.toString()};
parentPort.on('message', (buffer) => {
  try {
    const sha256 = crypto.createHash('sha256').update(new Uint8Array(buffer)).digest('hex');
    parentPort.postMessage({ buffer, sha256, finite: allFinite(new Float32Array(buffer)) }, [buffer]);
  } catch (err) {
    parentPort.postMessage({ buffer, error: String(err) }, [buffer]);
  }
});
`;

/** The bytes (back from the worker), their hex SHA-256, and whether, read as float32, every value is finite. */
export interface CheckedWeights {
  bytes: Uint8Array;
  sha256: string;
  finite: boolean;
}

interface Answer {
  buffer: ArrayBuffer;
  sha256?: string;
  finite?: boolean;
  error?: string;
}

export class WeightsChecker {
  /** the callers of posted checks, in order: the worker answers in order */
  private readonly pending: { resolve: (answer: Answer) => void; reject: (err: Error) => void }[] = [];
  private readonly thread = new LazyThread<Answer>(
    WORKER_SOURCE,
    (answer: Answer) => this.pending.shift()?.resolve(answer),
    // The thread is gone or going: the bytes of checks still posted went with it.
    () => {
      for (const { reject } of this.pending.splice(0)) reject(new Error('the weights check thread stopped holding an update'));
    },
  );
  /** checks the worker thread made, e.g. for a test to see it was used */
  offloaded = 0;

  constructor(private readonly minBytes = PARALLEL_CHECK_MIN_BYTES) {}

  /**
   * The checks on the worker thread, or null when the caller should make them
   * itself: small, a view into a larger buffer, or no thread running. The
   * caller must not touch `bytes` again: they move to the worker, and come back
   * as `bytes` of the result. Rejects only when the thread dies holding them.
   */
  check(bytes: Uint8Array): Promise<CheckedWeights> | null {
    const { buffer } = bytes;
    // Not instanceof: buffers may come from another realm. A SharedArrayBuffer cannot move.
    const whole = bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength && Object.prototype.toString.call(buffer) === '[object ArrayBuffer]';
    // The worker reads the values as the host's float32: little-endian hosts only, as the weights are.
    if (!whole || bytes.byteLength < this.minBytes || bytes.byteLength % 4 !== 0 || !LITTLE_ENDIAN_HOST) return null;
    // Until the thread runs (the first large update starts it), checking here costs less than waiting for it.
    const worker = this.thread.running();
    if (!worker) return null;
    const answered = new Promise<Answer>((resolve, reject) => this.pending.push({ resolve, reject }));
    try {
      worker.postMessage(buffer, [buffer as ArrayBuffer]);
    } catch {
      // Not transferable (or the thread just went): nothing moved, the caller checks the bytes itself.
      this.pending.pop();
      return null;
    }
    return answered.then((answer) => {
      const returned = new Uint8Array(answer.buffer);
      if (answer.error !== undefined) return checkHere(returned);
      this.offloaded++;
      return { bytes: returned, sha256: answer.sha256!, finite: answer.finite! };
    });
  }

  /** Stops the thread; checks it still holds fail, their bytes gone with it. */
  close(): Promise<void> {
    return this.thread.stop();
  }
}

function checkHere(bytes: Uint8Array): CheckedWeights {
  return {
    bytes,
    sha256: sha256Hex(bytes),
    finite: allFinite(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)),
  };
}
