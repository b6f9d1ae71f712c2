import { ChunkedSchema, chunk, packEnvelope, TransferAssembler } from '..';

const message = { header: { type: 'update', n: 1 }, signature: 's', weights: Buffer.alloc(1000, 7) };

function pieces(id: string, size: number) {
  const packed = packEnvelope(message);
  const parts = chunk(packed, size);
  return parts.map((data, index) => ({ transfer: id, index, count: parts.length, totalBytes: packed.byteLength, data }));
}

describe('reassembling a message sent in pieces', () => {
  it('gives back the message as it was packed', () => {
    const assembler = new TransferAssembler(1 << 20, ChunkedSchema);
    for (const piece of pieces('transfer-1', 300)) expect(assembler.receive(piece)).toEqual({ ok: true });
    const done = assembler.complete({ transfer: 'transfer-1', event: 'update' });
    expect(done).toMatchObject({ event: 'update', message: { header: message.header, signature: 's' } });
    expect(Buffer.from((done as { message: { weights: Uint8Array } }).message.weights)).toEqual(message.weights);
  });

  it('refuses pieces out of order, a total over the limit, and an early end', () => {
    const assembler = new TransferAssembler(1 << 20, ChunkedSchema);
    const [first, second, third] = pieces('transfer-2', 300);
    expect(assembler.receive(first).ok).toBe(true);
    expect(assembler.receive(third)).toMatchObject({ ok: false, error: { code: 'INVALID_FRAME' } });
    expect(assembler.receive(second)).toMatchObject({ ok: false, error: { code: 'INVALID_FRAME' } });
    expect(new TransferAssembler(100, ChunkedSchema).receive(first)).toMatchObject({ ok: false, error: { code: 'FRAME_TOO_LARGE' } });
    assembler.receive(first);
    expect(assembler.complete({ transfer: 'transfer-2', event: 'update' })).toMatchObject({ refused: { ok: false, error: { code: 'INVALID_FRAME' } } });
  });

  it('refuses pieces longer than announced', () => {
    const assembler = new TransferAssembler(1 << 20, ChunkedSchema);
    const [first] = pieces('transfer-3', 300);
    expect(assembler.receive({ ...first, totalBytes: 10 })).toMatchObject({ ok: false, error: { code: 'INVALID_FRAME' } });
  });
});
