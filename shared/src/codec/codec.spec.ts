import { allFinite, decodeWeights, encodeWeights, sha256Hex } from '.';

describe('weights codec', () => {
  it('round-trips float32 weights exactly, little-endian', () => {
    const weights = new Float32Array([1.5, -2.25, 0, 3.4028234663852886e38, 1e-45]);
    const bytes = encodeWeights(weights);
    expect(bytes.byteLength).toBe(20);
    expect(bytes.readFloatLE(4)).toBe(-2.25);
    expect(Array.from(decodeWeights(bytes)!)).toEqual(Array.from(weights));
  });

  it('decodes unaligned bytes and ArrayBuffers', () => {
    const weights = new Float32Array([1, 2, 3]);
    const shifted = new Uint8Array(13);
    shifted.set(encodeWeights(weights), 1);
    expect(Array.from(decodeWeights(shifted.subarray(1))!)).toEqual([1, 2, 3]);
    expect(Array.from(decodeWeights(weights.slice().buffer)!)).toEqual([1, 2, 3]);
  });

  it('decodes an unaligned view into a shared Buffer pool, as Socket.IO delivers it', () => {
    const pool = Buffer.alloc(64, 0xff);
    encodeWeights(new Float32Array([4, 5])).copy(pool, 13);
    expect(Array.from(decodeWeights(pool.subarray(13, 21))!)).toEqual([4, 5]);
  });

  it('refuses a length that is not whole float32 values', () => {
    expect(decodeWeights(new Uint8Array(7))).toBeNull();
  });

  it('hashes with SHA-256', () => {
    expect(sha256Hex(Buffer.from('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('finds NaN and infinities', () => {
    expect(allFinite(new Float32Array([0, -1, 1e30]))).toBe(true);
    expect(allFinite(new Float32Array([0, NaN]))).toBe(false);
    expect(allFinite(new Float32Array([Infinity]))).toBe(false);
    expect(allFinite(new Float32Array([-Infinity]))).toBe(false);
  });
});
