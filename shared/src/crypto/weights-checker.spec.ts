/**
 * The weights checker must give, on its thread, exactly what the coordinator
 * finds itself: an update's digest and whether its values are finite decide
 * whether it is folded into the global model. The bytes move to the thread
 * and come back; nothing else may be lost on the way.
 */
import { createHash } from 'node:crypto';
import { WeightsChecker, type CheckedWeights } from './weights-checker';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Bytes of `count` float32 values, a buffer of their own. */
function weightsBytes(count: number, seed: number, at?: { index: number; value: number }): Uint8Array {
  const values = new Float32Array(count).map((_, i) => Math.sin(seed + i));
  if (at) values[at.index] = at.value;
  return new Uint8Array(values.buffer);
}

/** Checks until the thread is running (it starts on the first large input); at most ~20 s. */
async function untilOnline(checker: WeightsChecker): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    const checked = checker.check(weightsBytes(256, 0));
    if (checked) {
      await checked;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the thread did not start');
}

// A worker thread can take a while to start on a loaded machine: more than Jest's default 5 s per test to wait for it.
jest.setTimeout(30_000);

describe('WeightsChecker', () => {
  let checker: WeightsChecker;
  afterEach(() => checker.close());

  it('leaves small weights, and views into a larger buffer, to the caller, untouched', async () => {
    // Prepare
    checker = new WeightsChecker(1024);
    await untilOnline(checker);
    const small = weightsBytes(255, 1);
    const frame = new Uint8Array(8 + 4096);
    const view = frame.subarray(8);
    const odd = new Uint8Array(4098);
    // Execute and Assert
    expect(checker.check(small)).toBeNull();
    expect(checker.check(view)).toBeNull();
    expect(checker.check(odd)).toBeNull();
    expect([small.byteLength, frame.byteLength, odd.byteLength]).toEqual([1020, 4104, 4098]);
  });

  it('gives, on its thread and in order, the digest and finiteness of each update, with its bytes back', async () => {
    // Prepare
    checker = new WeightsChecker(1024);
    await untilOnline(checker);
    const inputs = [
      weightsBytes(300_000, 2),
      weightsBytes(1024, 3, { index: 1023, value: NaN }),
      weightsBytes(70_001, 4, { index: 0, value: -Infinity }),
      weightsBytes(4096, 5, { index: 17, value: Infinity }),
      weightsBytes(1024, 6, { index: 5, value: 3.4e38 }),
    ];
    const copies = inputs.map((bytes) => Uint8Array.from(bytes));
    const before = checker.offloaded;
    // Execute: all posted before any answer comes
    const pending = inputs.map((bytes) => checker.check(bytes));
    // Assert: the bytes went to the thread, and come back as they were
    expect(inputs.map((bytes) => bytes.byteLength)).toEqual([0, 0, 0, 0, 0]);
    const checked = await Promise.all(pending as Promise<CheckedWeights>[]);
    expect(checked.map(({ bytes }, i) => Buffer.compare(bytes, copies[i]))).toEqual([0, 0, 0, 0, 0]);
    expect(checked.map(({ sha256 }) => sha256)).toEqual(copies.map(sha256));
    expect(checked.map(({ finite }) => finite)).toEqual([true, false, false, false, true]);
    expect(checker.offloaded).toBe(before + inputs.length);
  });

  it('fails the checks a stopped thread was holding, and leaves the next ones to the caller', async () => {
    // Prepare
    checker = new WeightsChecker(1024);
    await untilOnline(checker);
    const held = expect(checker.check(weightsBytes(1_000_000, 7))).rejects.toThrow(/stopped holding an update/);
    // Execute
    await checker.close();
    // Assert
    await held;
    const next = weightsBytes(1_000_000, 8);
    expect(checker.check(next)).toBeNull();
    expect(next.byteLength).toBe(4_000_000);
  });
});
