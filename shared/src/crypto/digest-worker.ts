/**
 * SHA-256 of bytes produced piece by piece, hashed on another thread while the
 * producer goes on. The coordinator hashes every new global model before it
 * commits the round, and at d = 1,000,000 that is ~2.3 ms of the round's end,
 * where every participant waits and the other core is idle; its mean is
 * written 256 KB at a time (WeightedAverage.result), and each piece goes to the
 * worker as soon as it is written, so the hash can end about a piece after the
 * mean. In alternating benchmark runs the d = 1,000,000 round got ~2.1 ms
 * shorter, the coordinator's CPU a round unchanged.
 *
 * Pieces are copied into memory shared with the worker, so the model itself
 * stays ordinary memory for the sockets and the store. The worker is plain node:crypto code (no
 * module of this package), so it runs the same from the sources or the build.
 * Small inputs, a worker not yet started, busy or gone: hashed inline, the same
 * digest.
 */
import { createHash } from 'node:crypto';
import { sha256Hex } from '../codec/weights';
import { LazyThread } from './lazy-thread';

/** Below this many bytes (~0.6 ms of hashing here) inputs are hashed inline: the thread could save a fraction of a millisecond at most. */
export const PARALLEL_DIGEST_MIN_BYTES = 1024 * 1024;
/** How long the producer waits for the worker's digest before it hashes the bytes itself. */
const DIGEST_WAIT_MS = 2_000;

// The control block: Int32 slots, then the digest.
const READY = 0; // bytes written to the staging memory so far; -1 to abort
const DONE = 1; // 1 once the digest is in place
const DIGEST_AT = 8;
const CONTROL_BYTES = DIGEST_AT + 32;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
parentPort.on('message', ({ staging, control, length }) => {
  const state = new Int32Array(control);
  const bytes = Buffer.from(staging, 0, length);
  const hash = crypto.createHash('sha256');
  let hashed = 0;
  while (hashed < length) {
    Atomics.wait(state, ${READY}, hashed);
    const ready = Atomics.load(state, ${READY});
    if (ready < 0) return;
    hash.update(bytes.subarray(hashed, ready));
    hashed = ready;
  }
  Buffer.from(control, ${DIGEST_AT}, 32).set(hash.digest());
  Atomics.store(state, ${DONE}, 1);
  Atomics.notify(state, ${DONE});
});
`;

/** Takes the bytes in order, in pieces of any size; digest() once all have come. */
export interface Sha256Sink {
  push(piece: Uint8Array): void;
  /** The hex SHA-256 of everything pushed; throws unless that is exactly the length begun with. */
  digest(): string;
}

function inlineSink(length: number): Sha256Sink {
  const hash = createHash('sha256');
  let pushed = 0;
  return {
    push(piece) {
      hash.update(piece);
      pushed += piece.byteLength;
    },
    digest() {
      if (pushed !== length) throw new Error(`${pushed} bytes hashed of ${length}`);
      return hash.digest('hex');
    },
  };
}

export class DigestWorker {
  private readonly thread = new LazyThread(WORKER_SOURCE);
  private busy = false;
  private staging = new SharedArrayBuffer(0);
  private readonly control = new SharedArrayBuffer(CONTROL_BYTES);
  private readonly state = new Int32Array(this.control);
  /** digests the worker thread made, e.g. for a test to see it was used */
  offloaded = 0;

  constructor(private readonly minBytes = PARALLEL_DIGEST_MIN_BYTES) {}

  /** A sink for `length` bytes: on the worker thread when large enough and the thread is free. */
  begin(length: number): Sha256Sink {
    if (length < this.minBytes || this.busy || length >= 2 ** 31) return inlineSink(length);
    // Until the thread runs (the first large input starts it), inline costs less than waiting for it.
    const worker = this.thread.running();
    if (!worker) return inlineSink(length);
    if (this.staging.byteLength < length) this.staging = new SharedArrayBuffer(length);
    Atomics.store(this.state, READY, 0);
    Atomics.store(this.state, DONE, 0);
    worker.postMessage({ staging: this.staging, control: this.control, length });
    this.busy = true;
    return this.parallelSink(length);
  }

  close(): Promise<void> {
    return this.thread.stop();
  }

  private parallelSink(length: number): Sha256Sink {
    const staging = new Uint8Array(this.staging, 0, length);
    let pushed = 0;
    let ended = false;
    const end = () => {
      ended = true;
      this.busy = false;
    };
    // On misuse the worker is told to stop and not used again: were it slow to see that, it would read the next input's bytes.
    const abort = (why: string) => {
      Atomics.store(this.state, READY, -1);
      Atomics.notify(this.state, READY);
      end();
      void this.thread.stop();
      return new Error(why);
    };
    return {
      push: (piece) => {
        if (ended) throw new Error('a piece after the digest');
        if (pushed + piece.byteLength > length) throw abort(`more than the ${length} bytes begun with`);
        staging.set(piece, pushed);
        pushed += piece.byteLength;
        Atomics.store(this.state, READY, pushed);
        Atomics.notify(this.state, READY);
      },
      digest: () => {
        if (ended) throw new Error('the digest was already taken');
        if (pushed !== length) throw abort(`${pushed} bytes hashed of ${length}`);
        const waited = Atomics.wait(this.state, DONE, 0, DIGEST_WAIT_MS);
        end();
        if (waited === 'timed-out' || this.thread.gone) {
          // Every byte is in the staging memory: hash it here, and stop using a thread that did not answer.
          void this.thread.stop();
          return sha256Hex(staging);
        }
        this.offloaded++;
        return Buffer.from(this.control, DIGEST_AT, 32).toString('hex');
      },
    };
  }
}
