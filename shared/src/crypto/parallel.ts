/**
 * Signature checks on more than one core. Ed25519 verification costs ~0.1 ms
 * here and is the bulk of receiving an update; when many arrive together (500
 * participants answering a round) one core caps how fast they are accepted.
 *
 * The calling thread keeps verifying too: the first requests of a burst (those
 * arriving before the event loop turns) are verified inline, and only past
 * INLINE_BURST do they alternate between it and the worker threads (one per
 * spare core), so a large burst uses every core while a few updates arriving
 * together pay no round trip to another thread: that round trip (posting, and
 * waking each thread) costs about as much CPU as the verification it moves.
 * Requests for the worker are batched, a batch posted every few requests, so
 * the worker starts while the caller is still busy. The worker is plain
 * node:crypto code (no module of this package), so it runs the same from the
 * sources or the build. Without node:crypto's Ed25519 it all stays inline.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { canonicalBytes, type SignatureDomain } from './canonical';
import { defaultEngine, verifyHeader } from './keys';

/**
 * Requests of a burst verified inline before any goes to a worker. Rounds of 20
 * agents sharing two cores with the coordinator used 2–3 ms less of its CPU a
 * round (of ~21) with every update verified inline: their bursts are a few
 * updates, whose verification a worker's round trip does not shorten.
 */
export const INLINE_BURST = 16;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const keys = new Map();
function keyOf(raw) {
  const id = Buffer.from(raw).toString('base64');
  let key = keys.get(id);
  if (!key) {
    if (keys.size >= 10000) keys.clear();
    key = crypto.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
    keys.set(id, key);
  }
  return key;
}
parentPort.on('message', (batch) => {
  const results = new Uint8Array(batch.length);
  for (let i = 0; i < batch.length; i++) {
    const { message, signature, publicKey } = batch[i];
    try {
      results[i] = crypto.verify(null, message, keyOf(publicKey), signature) ? 1 : 0;
    } catch {
      results[i] = 0;
    }
  }
  parentPort.postMessage(results);
});
`;

/** Requests posted to a worker together, at most. */
const BATCH = 16;

interface Request {
  message: Uint8Array;
  signature: Uint8Array;
  publicKey: Uint8Array;
}

class VerifyWorker {
  readonly worker: Worker;
  /** the resolvers of posted batches, in order: the worker answers in order */
  private readonly posted: ((results: Uint8Array | null) => void)[] = [];
  private batch: Request[] = [];
  private resolvers: ((ok: boolean | null) => void)[] = [];
  private flushQueued = false;
  private dead = false;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    // Never what keeps a process alive.
    this.worker.unref();
    this.worker.on('message', (results: Uint8Array) => this.posted.shift()?.(results));
    // A worker that dies fails its pending requests over to the caller's thread.
    const failAll = () => {
      this.dead = true;
      for (const resolve of this.posted.splice(0)) resolve(null);
      this.flush();
    };
    this.worker.on('error', failAll);
    this.worker.on('exit', failAll);
  }

  /** Resolves with the result, or null when the worker could not answer. */
  verify(request: Request): Promise<boolean | null> {
    if (this.dead) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.batch.push(request);
      this.resolvers.push(resolve);
      if (this.batch.length >= BATCH) this.flush();
      else if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.batch.length === 0) return;
    const batch = this.batch;
    const resolvers = this.resolvers;
    this.batch = [];
    this.resolvers = [];
    if (this.dead) return resolvers.forEach((resolve) => resolve(null));
    this.posted.push((results) => resolvers.forEach((resolve, i) => resolve(results ? results[i] === 1 : null)));
    try {
      this.worker.postMessage(batch);
    } catch {
      this.posted.pop()!(null);
    }
  }
}

export class ParallelVerifier {
  private readonly workers: VerifyWorker[] = [];
  /** requests since the event loop last turned: a burst is spread over the threads, a lone request stays inline */
  private burst = 0;
  /** requests a worker thread answered (not this one), e.g. to see the threads are used */
  offloaded = 0;
  private burstEnds = false;

  /** `threads`: worker threads besides the caller's; by default one per spare core. */
  constructor(threads = Math.max(0, availableParallelism() - 1)) {
    if (defaultEngine.name !== 'node:crypto') return;
    for (let i = 0; i < threads; i++) this.workers.push(new VerifyWorker());
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  /** verifyHeader, on whichever thread's turn it is. */
  async verifyHeader(domain: SignatureDomain, header: unknown, signature: string, publicKey: Uint8Array): Promise<boolean> {
    if (!this.burstEnds) {
      this.burstEnds = true;
      setImmediate(() => {
        this.burst = 0;
        this.burstEnds = false;
      });
    }
    // Inline for the start of a burst and every (workers + 1)-th after it: a worker's round trip only pays when many wait.
    const position = this.burst++;
    const turn = position < INLINE_BURST ? 0 : (position - INLINE_BURST) % (this.workers.length + 1);
    if (turn === 0) return verifyHeader(domain, header, signature, publicKey);
    let message: Uint8Array;
    try {
      message = canonicalBytes(domain, header);
    } catch {
      return false;
    }
    const signatureBytes = Buffer.from(signature, 'base64');
    if (signatureBytes.length !== 64 || publicKey.length !== 32) return false;
    const ok = await this.workers[turn - 1].verify({ message, signature: signatureBytes, publicKey });
    if (ok === null) return verifyHeader(domain, header, signature, publicKey);
    this.offloaded++;
    return ok;
  }

  close(): Promise<void> {
    return Promise.all(this.workers.splice(0).map((w) => w.worker.terminate())).then(() => undefined);
  }
}
