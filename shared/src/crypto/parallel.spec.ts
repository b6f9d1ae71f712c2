import { generateKeyPair, INLINE_BURST, ParallelVerifier, randomNonce, signHeader } from '..';

describe('ParallelVerifier', () => {
  const keys = generateKeyPair();
  const other = generateKeyPair();
  const headers = Array.from({ length: 200 }, (_, i) => ({ type: 'update', round: i, nonce: randomNonce() }));
  // Every third one is signed by another key, every fifth is for another purpose.
  const cases = headers.map((header, i) => ({
    header,
    signature: signHeader(i % 5 === 0 ? 'evaluation' : 'update', header, (i % 3 === 0 ? other : keys).secretKey),
    valid: i % 3 !== 0 && i % 5 !== 0,
  }));

  it('gives the answers of verifyHeader for a burst spread over a worker thread and this one', async () => {
    const verifier = new ParallelVerifier(1);
    try {
      expect(verifier.threads).toBe(2);
      const results = await Promise.all(cases.map((c) => verifier.verifyHeader('update', c.header, c.signature, keys.publicKey)));
      expect(results).toEqual(cases.map((c) => c.valid));
      // past the burst's start, half was answered by the worker, not by the fallback on this thread
      const offloaded = (cases.length - INLINE_BURST) / 2;
      expect(verifier.offloaded).toBe(offloaded);
      // a few requests together, after the event loop turned, stay on this thread
      await new Promise((resolve) => setImmediate(resolve));
      await Promise.all(cases.slice(0, INLINE_BURST).map((c) => verifier.verifyHeader('update', c.header, c.signature, keys.publicKey)));
      expect(verifier.offloaded).toBe(offloaded);
    } finally {
      await verifier.close();
    }
  });

  it('refuses what cannot be a signature or a key without asking a thread', async () => {
    const verifier = new ParallelVerifier(1);
    try {
      const [a, b, c] = await Promise.all([
        verifier.verifyHeader('update', headers[1], 'short', keys.publicKey),
        verifier.verifyHeader('update', headers[1], cases[1].signature, keys.publicKey.subarray(0, 31)),
        verifier.verifyHeader('update', { bad: NaN }, cases[1].signature, keys.publicKey),
      ]);
      expect([a, b, c]).toEqual([false, false, false]);
    } finally {
      await verifier.close();
    }
  });

  it('verifies on its own thread once its workers are closed', async () => {
    const verifier = new ParallelVerifier(1);
    await verifier.close();
    const results = await Promise.all(cases.slice(0, 20).map((c) => verifier.verifyHeader('update', c.header, c.signature, keys.publicKey)));
    expect(results).toEqual(cases.slice(0, 20).map((c) => c.valid));
    expect(verifier.offloaded).toBe(0);
  });
});
