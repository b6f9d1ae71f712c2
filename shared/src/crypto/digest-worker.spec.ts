/**
 * The digest worker must give the SHA-256 of exactly the bytes pushed, whether
 * the worker thread or the caller hashed them: the coordinator signs it as the
 * new global model's digest.
 */
import { createHash, randomBytes } from 'node:crypto';
import { DigestWorker, type Sha256Sink } from './digest-worker';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Pushes `bytes` in pieces of the sizes given, round-robin, and returns the digest. */
function digestInPieces(worker: DigestWorker, bytes: Uint8Array, sizes: number[]): string {
  const sink = worker.begin(bytes.byteLength);
  for (let at = 0, k = 0; at < bytes.byteLength; k++) {
    const end = Math.min(bytes.byteLength, at + sizes[k % sizes.length]);
    sink.push(bytes.subarray(at, end));
    at = end;
  }
  return sink.digest();
}

/** Digests until the worker thread has made one (it starts on the first large input); at most ~20 s. */
async function untilOffloaded(worker: DigestWorker, bytes: Uint8Array): Promise<void> {
  for (let i = 0; i < 2000 && worker.offloaded === 0; i++) {
    expect(digestInPieces(worker, bytes, [4096])).toBe(sha256(bytes));
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(worker.offloaded).toBeGreaterThan(0);
}

// A worker thread can take a while to start on a loaded machine: more than Jest's default 5 s per test to wait for it.
jest.setTimeout(30_000);

describe('DigestWorker', () => {
  let worker: DigestWorker;
  afterEach(() => worker.close());

  it('hashes small inputs inline, without a thread', () => {
    // Prepare
    worker = new DigestWorker(1024);
    const bytes = randomBytes(1000);
    // Execute and Assert
    expect(digestInPieces(worker, bytes, [7, 300])).toBe(sha256(bytes));
    expect(worker.offloaded).toBe(0);
  });

  it('gives, on its thread, the digest of large inputs of changing sizes pushed in any pieces', async () => {
    // Prepare
    worker = new DigestWorker(1024);
    await untilOffloaded(worker, randomBytes(2048));
    const inputs = [randomBytes(5000), randomBytes(300_000), randomBytes(1024), randomBytes(70_001)];
    const before = worker.offloaded;
    // Execute: larger and smaller than the last, in pieces of odd sizes
    const digests = inputs.map((bytes, i) => digestInPieces(worker, bytes, [1, 4095, 65_536 + i, 13]));
    // Assert
    expect(digests).toEqual(inputs.map(sha256));
    expect(worker.offloaded).toBe(before + inputs.length);
  });

  it.each([
    ['more bytes than begun with', (sink: Sha256Sink) => sink.push(randomBytes(4097)), 'more than the 4096 bytes'],
    ['fewer bytes than begun with', (sink: Sha256Sink) => (sink.push(randomBytes(100)), sink.digest()), '100 bytes hashed of 4096'],
  ])('refuses %s on its thread, then hashes inline, correctly', async (_, misuse, error) => {
    // Prepare
    worker = new DigestWorker(1024);
    await untilOffloaded(worker, randomBytes(2048));
    const offloaded = worker.offloaded;
    const bytes = randomBytes(4096);
    // Execute and Assert
    expect(() => misuse(worker.begin(4096))).toThrow(error);
    expect(digestInPieces(worker, bytes, [1000])).toBe(sha256(bytes));
    expect(worker.offloaded).toBe(offloaded);
  });

  it('hashes inline once closed', async () => {
    // Prepare
    worker = new DigestWorker(1024);
    await untilOffloaded(worker, randomBytes(2048));
    await worker.close();
    const bytes = randomBytes(10_000);
    const offloaded = worker.offloaded;
    // Execute and Assert
    expect(digestInPieces(worker, bytes, [333])).toBe(sha256(bytes));
    expect(worker.offloaded).toBe(offloaded);
  });
});
