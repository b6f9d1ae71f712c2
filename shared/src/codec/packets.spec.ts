import { Decoder as SocketIoDecoder, Encoder as SocketIoEncoder, PacketType, type Packet } from 'socket.io-parser';
import { AttachmentBudget, boundedPacketCodec, Decoder, Encoder, jsonSizeOf, ONE_FRAME_MAX_BYTES } from './packets';

/** Everything a decoder makes of the encoded parts, in order. */
function decodeAll(decoder: SocketIoDecoder, parts: unknown[]): Packet[] {
  const packets: Packet[] = [];
  decoder.on('decoded', (packet: Packet) => packets.push(packet));
  for (const part of parts) decoder.add(part);
  return packets;
}

const event = (data: unknown[], id?: number): Packet => ({ type: PacketType.EVENT, nsp: '/agents', data, ...(id !== undefined && { id }) });

describe('the one-frame packet encoding', () => {
  const weights = Buffer.from(new Float32Array([0.5, -1.25, 3]).buffer);

  it('sends an event with small attachments as one binary frame, decoded to the same event', () => {
    const packet = event(['update', { header: { round: 3 }, weights, more: [Buffer.from([1, 2])] }], 12);
    const parts = new Encoder().encode(packet);
    expect(parts).toHaveLength(1);
    expect(parts[0]).toBeInstanceOf(Uint8Array);
    const [decoded] = decodeAll(new Decoder(), parts);
    expect(decoded).toMatchObject({ type: PacketType.EVENT, nsp: '/agents', id: 12 });
    const [name, body] = decoded.data as [string, { header: unknown; weights: Uint8Array; more: Uint8Array[] }];
    expect(name).toBe('update');
    expect(body.header).toEqual({ round: 3 });
    expect(Buffer.from(body.weights).equals(weights)).toBe(true);
    expect(Array.from(body.more[0])).toEqual([1, 2]);
  });

  it('takes the bytes of any view: a Float32Array attachment arrives as its bytes', () => {
    const values = new Float32Array([1, 2, 3, 4]).subarray(1);
    const [decoded] = decodeAll(new Decoder(), new Encoder().encode(event(['train', values])));
    const bytes = (decoded.data as [string, Uint8Array])[1];
    expect(Array.from(new Float32Array(new Uint8Array(bytes).buffer))).toEqual([2, 3, 4]);
  });

  it("keeps Socket.IO's frames for larger attachments and for packets without any, which either decoder reads", () => {
    const large = Buffer.alloc(ONE_FRAME_MAX_BYTES + 1, 7);
    for (const packet of [event(['update', { weights: large }]), event(['hello', { a: 1 }], 4), { type: PacketType.ACK, nsp: '/agents', id: 4, data: [{ ok: true }] }]) {
      const parts = new Encoder().encode(packet);
      expect(parts).toEqual(new SocketIoEncoder().encode(packet));
      expect(decodeAll(new Decoder(), parts)).toEqual(decodeAll(new SocketIoDecoder(), parts));
    }
  });

  it("reads what a client with Socket.IO's default encoder sends, one packet after another", () => {
    const packets = [event(['update', { weights }], 1), event(['ping']), { type: PacketType.ACK, nsp: '/agents', id: 2, data: [weights] }];
    const parts = packets.flatMap((p) => new SocketIoEncoder().encode(p));
    const decoded = decodeAll(new Decoder(), parts);
    expect(decoded.map((p) => p.type)).toEqual([PacketType.EVENT, PacketType.EVENT, PacketType.ACK]);
    expect(Buffer.from((decoded[2].data as Uint8Array[])[0]).equals(weights)).toBe(true);
  });

  it('notes each event body with the size of the JSON it was read from, in every form an event arrives', () => {
    const large = Buffer.alloc(ONE_FRAME_MAX_BYTES + 1, 7);
    const plain = event(['statistics', { header: { junk: 'x'.repeat(5000) } }]);
    const oneFrame = event(['update', { header: { round: 3 }, weights }]);
    const separate = event(['update', { header: { round: 4 }, weights: large }]);
    const parts = [plain, oneFrame, separate].flatMap((p) => new Encoder().encode(p));
    const decoded = decodeAll(new Decoder(), parts);
    const texts = [plain, separate].map((p) => (new SocketIoEncoder().encode(p) as unknown[])[0] as string);
    expect(decoded.map((p) => jsonSizeOf((p.data as unknown[])[1]))).toEqual([
      texts[0].length,
      (new SocketIoEncoder().encode(oneFrame)[0] as string).length,
      texts[1].length,
    ]);
    expect(jsonSizeOf(decoded[0].data)).toBeUndefined();
  });

  it('refuses malformed frames with an error, as the default decoder refuses malformed packets', () => {
    const [frame] = new Encoder().encode(event(['update', { weights }])) as Uint8Array[];
    const cases: [string, Uint8Array][] = [
      ['a binary frame that is no packet', Uint8Array.from([1, 2, 3, 4, 5, 6])],
      ['a packet frame shorter than its text', Uint8Array.from([0xf1, 255, 255, 0, 0, 0x35])],
      ['a packet frame shorter than its attachments', frame.subarray(0, frame.length - 1)],
      ['a packet frame cut inside an attachment length', Uint8Array.from([...frame, 1, 2])],
    ];
    for (const [message, bytes] of cases) expect(() => new Decoder().add(bytes)).toThrow(message);
    // text that announces two attachments where the frame holds one
    const text = new TextEncoder().encode('52-/agents,["update",{"_placeholder":true,"num":0}]');
    const lying = Uint8Array.from([0xf1, text.length, 0, 0, 0, ...text, 1, 0, 0, 0, 9]);
    expect(() => new Decoder().add(lying)).toThrow('does not announce its attachments');
  });

  describe('with a budget for unfinished packets', () => {
    const KiB = 1024;
    /** Socket.IO's text announcing `count` attachments, as a client with the default encoder sends it. */
    const announce = (count: number) => `5${count}-/agents,${JSON.stringify(['update', Array.from({ length: count }, (_, num) => ({ _placeholder: true, num }))])}`;

    it('holds attachments until the last arrives, then lets go of them', () => {
      const shared = new AttachmentBudget(100 * KiB);
      const decoder = new (boundedPacketCodec({ perConnectionBytes: 64 * KiB, shared }).Decoder)();
      const packets: Packet[] = [];
      decoder.on('decoded', (p: Packet) => packets.push(p));
      decoder.add(announce(3));
      decoder.add(Buffer.alloc(30 * KiB));
      decoder.add(Buffer.alloc(30 * KiB));
      expect(shared.held).toBe(60 * KiB);
      decoder.add(Buffer.alloc(30 * KiB));
      expect(packets).toHaveLength(1);
      expect(shared.held).toBe(0);
    });

    it("closes a connection past its own budget, and frees what it held", () => {
      const refusals: string[] = [];
      const shared = new AttachmentBudget(1024 * KiB, (why) => refusals.push(why));
      const decoder = new (boundedPacketCodec({ perConnectionBytes: 64 * KiB, shared }).Decoder)();
      decoder.add(announce(10));
      decoder.add(Buffer.alloc(40 * KiB));
      expect(() => decoder.add(Buffer.alloc(40 * KiB))).toThrow('unfinished attachments of 81920 bytes on one connection, over its 65536');
      expect(refusals).toHaveLength(1);
      expect(shared.held).toBe(0);
    });

    it("closes the connection that goes past the process's budget, the others keep theirs", () => {
      const shared = new AttachmentBudget(100 * KiB);
      const { Decoder: Bounded } = boundedPacketCodec({ perConnectionBytes: 64 * KiB, shared });
      const [a, b] = [new Bounded(), new Bounded()];
      for (const d of [a, b]) d.add(announce(3));
      a.add(Buffer.alloc(60 * KiB));
      expect(() => b.add(Buffer.alloc(60 * KiB))).toThrow("unfinished attachments of 122880 bytes in all, over the process's 102400");
      expect(shared.held).toBe(60 * KiB);
      // a connection that closes lets go of what it held
      a.destroy();
      expect(shared.held).toBe(0);
    });
  });
});
