import { allFinite, chunk, decodeWeights, encodeWeights, inPieces, packEnvelope, PIECE_OVERHEAD_BYTES, sha256Hex, unpackEnvelope } from '.';

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

describe('envelopes for chunked messages', () => {
  it('packs and unpacks a message with binary fields to the same message', () => {
    const weights = encodeWeights(new Float32Array([1, 2, 3]));
    const message = { header: { type: 'update', round: 2 }, signature: 'sig', weights };
    const unpacked = unpackEnvelope(packEnvelope(message));
    expect(unpacked.header).toEqual(message.header);
    expect(unpacked.signature).toBe('sig');
    expect(Array.from(decodeWeights(unpacked.weights as Uint8Array)!)).toEqual([1, 2, 3]);
  });

  it('survives chunking and reassembly', () => {
    const weights = encodeWeights(Float32Array.from({ length: 1000 }, (_, i) => i));
    const packed = packEnvelope({ header: {}, weights });
    const parts = chunk(packed, 333);
    expect(parts.length).toBe(Math.ceil(packed.byteLength / 333));
    const joined = Buffer.concat(parts);
    expect(decodeWeights(unpackEnvelope(joined).weights as Uint8Array)![999]).toBe(999);
  });

  it('cuts a message into numbered pieces within the frame limit, ended by the event it stands for', () => {
    const weights = encodeWeights(new Float32Array(20_000));
    const { totalBytes, pieces, end } = inPieces({ header: { round: 1 }, weights }, 'update', 32 * 1024, 'transfer-1');
    expect(pieces.map((p) => p.index)).toEqual(pieces.map((_, i) => i));
    for (const piece of pieces) {
      expect(piece.data.byteLength).toBeLessThanOrEqual(32 * 1024 - PIECE_OVERHEAD_BYTES);
      expect(piece).toMatchObject({ transfer: 'transfer-1', count: pieces.length, totalBytes });
    }
    expect(end).toEqual({ transfer: 'transfer-1', event: 'update' });
    expect(unpackEnvelope(Buffer.concat(pieces.map((p) => p.data))).header).toEqual({ round: 1 });
  });

  it('refuses malformed envelopes', () => {
    expect(() => unpackEnvelope(new Uint8Array(2))).toThrow(/too short/);
    const lying = Buffer.alloc(8);
    lying.writeUInt32LE(100, 0);
    expect(() => unpackEnvelope(lying)).toThrow(/overruns/);
    const head = Buffer.from(JSON.stringify({ weights: { $binary: [0, 50] } }));
    const bad = Buffer.concat([Buffer.from([head.length, 0, 0, 0]), head, Buffer.alloc(10)]);
    expect(() => unpackEnvelope(bad)).toThrow(/out of bounds/);
  });
});
