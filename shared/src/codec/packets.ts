/**
 * The Socket.IO packet encoding both sides use (the `parser` option of the
 * coordinator's server and of every agent's client): Socket.IO's own, except
 * that an event or ack whose binary attachments are small goes as one binary
 * WebSocket frame instead of a text frame followed by a frame per attachment.
 *
 * Each frame is a write on the socket and a wake-up of the process reading it.
 * A round of a small model is a train request down and an update up per agent,
 * each with one attachment of a few hundred bytes: sent as one frame, half the
 * writes and wake-ups of the two processes (the WebSocket library writes every
 * frame by itself). Larger attachments keep Socket.IO's frames, which need no copy.
 *
 *   frame = 0xF1, u32 LE text length, the packet's text as Socket.IO encodes it
 *           (attachments as placeholders), then per attachment u32 LE length, bytes
 *
 * The decoder takes both: its own frames, and Socket.IO's text-then-attachments
 * (what a client with the default parser sends), so only what a peer receives
 * needs this encoding. Dashboards never receive binary and keep the default.
 *
 * Socket.IO's way, a packet's attachments are held until the last one arrives: a
 * peer that announces ten and sends nine pins them. A decoder made by
 * boundedPacketCodec counts the attachments it holds against a budget per
 * connection and one shared by every connection of the process; past either it
 * throws, Socket.IO closes the connection, and destroy() frees what was held.
 *
 * Each decoded event's body is noted with the size of the JSON it was parsed from
 * (jsonSizeOf), so that a refusal can weigh what the message cost to read.
 */
import { Decoder as SocketIoDecoder, Encoder as SocketIoEncoder, PacketType, type Packet } from 'socket.io-parser';

const MARK = 0xf1;
/** Attachments up to this many bytes in all travel in one frame with their packet: copying them costs less than a frame. */
export const ONE_FRAME_MAX_BYTES = 64 * 1024;

/** The bytes of an attachment, whatever view of them Socket.IO hands over. */
function bytesOf(part: ArrayBuffer | ArrayBufferView): Uint8Array {
  return ArrayBuffer.isView(part) ? new Uint8Array(part.buffer, part.byteOffset, part.byteLength) : new Uint8Array(part);
}

const jsonSizes = new WeakMap<object, number>();

/** The size of the JSON a decoded message was read from (characters of a text frame, bytes otherwise), when noted. */
export function jsonSizeOf(message: unknown): number | undefined {
  return typeof message === 'object' && message !== null ? jsonSizes.get(message) : undefined;
}

/** Notes the size of the JSON a message was read from. */
export function noteJsonSize(message: unknown, size: number): void {
  if (typeof message === 'object' && message !== null) jsonSizes.set(message, size);
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

export class Encoder extends SocketIoEncoder {
  override encode(packet: Packet): (string | Uint8Array)[] {
    const parts = super.encode(packet) as (string | ArrayBuffer | ArrayBufferView)[];
    if (parts.length < 2 || typeof parts[0] !== 'string') return parts as (string | Uint8Array)[];
    const attachments = parts.slice(1).map((part) => bytesOf(part as ArrayBuffer | ArrayBufferView));
    const attached = attachments.reduce((sum, a) => sum + a.byteLength, 0);
    if (attached > ONE_FRAME_MAX_BYTES) return parts as (string | Uint8Array)[];
    const text = utf8.encode(parts[0]);
    const frame = new Uint8Array(5 + text.byteLength + 4 * attachments.length + attached);
    const view = new DataView(frame.buffer);
    frame[0] = MARK;
    view.setUint32(1, text.byteLength, true);
    frame.set(text, 5);
    let at = 5 + text.byteLength;
    for (const attachment of attachments) {
      view.setUint32(at, attachment.byteLength, true);
      frame.set(attachment, at + 4);
      at += 4 + attachment.byteLength;
    }
    return [frame];
  }
}

/** Bytes of unfinished packets that every decoder of a process holds together, and their limit. */
export class AttachmentBudget {
  held = 0;
  constructor(
    readonly maxBytes: number,
    /** told when a connection is closed for going over, with why */
    readonly onExceeded: (reason: string) => void = () => undefined,
  ) {}
}

export interface DecoderLimits {
  /** bytes of attachments one connection may hold for a packet not yet complete */
  perConnectionBytes: number;
  /** the process-wide budget this connection draws on */
  shared: AttachmentBudget;
}

export class Decoder extends SocketIoDecoder {
  /** attachments still due to the packet Socket.IO's way, announced by its text */
  private due = 0;
  /** bytes of the attachments held for the packet still due */
  private held = 0;

  /** the size of the last packet text read: the JSON of the packet decoded next */
  private textSize = 0;

  constructor(private readonly limits?: DecoderLimits) {
    super();
    // Registered before Socket.IO's own listener, so the body is noted before any handler sees it.
    this.on('decoded', (packet: Packet) => {
      if (packet.type === PacketType.EVENT && Array.isArray(packet.data)) noteJsonSize(packet.data[1], this.textSize);
    });
  }

  override add(chunk: unknown): void {
    if (typeof chunk === 'string') {
      this.textSize = chunk.length;
      super.add(chunk);
      // Socket.IO's binary packets ("51-/agents,...") announce how many attachment frames follow.
      const type = Number(chunk.charAt(0));
      if (type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK) this.due = parseInt(chunk.slice(1), 10);
      return;
    }
    if (this.due > 0) {
      this.due--;
      if (this.due > 0) this.hold(chunk);
      else this.release();
      return super.add(chunk);
    }
    // Told by tag, not instanceof: buffers may come from another realm.
    if (!(ArrayBuffer.isView(chunk) || Object.prototype.toString.call(chunk) === '[object ArrayBuffer]')) return super.add(chunk);
    const frame = bytesOf(chunk as ArrayBuffer | ArrayBufferView);
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    if (frame.byteLength < 5 || frame[0] !== MARK) throw new Error('a binary frame that is no packet');
    const textEnd = 5 + view.getUint32(1, true);
    if (textEnd > frame.byteLength) throw new Error('a packet frame shorter than its text');
    const text = fromUtf8.decode(frame.subarray(5, textEnd));
    const attachments: Uint8Array[] = [];
    for (let at = textEnd; at < frame.byteLength; ) {
      if (at + 4 > frame.byteLength) throw new Error('a packet frame cut inside an attachment length');
      const end = at + 4 + view.getUint32(at, true);
      if (end > frame.byteLength) throw new Error('a packet frame shorter than its attachments');
      attachments.push(frame.subarray(at + 4, end));
      at = end;
    }
    // Socket.IO's own decoding from here: the text must announce exactly these attachments.
    const type = Number(text.charAt(0));
    if ((type !== PacketType.BINARY_EVENT && type !== PacketType.BINARY_ACK) || parseInt(text.slice(1), 10) !== attachments.length) {
      throw new Error('a packet frame whose text does not announce its attachments');
    }
    this.textSize = textEnd - 5;
    super.add(text);
    for (const attachment of attachments) super.add(attachment);
  }

  /** Counts an attachment held until the packet's last one arrives; throws past the budget. */
  private hold(chunk: unknown): void {
    if (!this.limits) return;
    const bytes = ArrayBuffer.isView(chunk) || chunk instanceof ArrayBuffer ? chunk.byteLength : 0;
    const { perConnectionBytes, shared } = this.limits;
    this.held += bytes;
    shared.held += bytes;
    const over =
      this.held > perConnectionBytes
        ? `unfinished attachments of ${this.held} bytes on one connection, over its ${perConnectionBytes}`
        : shared.held > shared.maxBytes
          ? `unfinished attachments of ${shared.held} bytes in all, over the process's ${shared.maxBytes}`
          : undefined;
    if (over) {
      this.destroy();
      shared.onExceeded(over);
      throw new Error(over);
    }
  }

  private release(): void {
    if (this.limits) this.limits.shared.held -= this.held;
    this.held = 0;
  }

  override destroy(): void {
    super.destroy();
    this.due = 0;
    this.release();
  }
}

/** For the `parser` option of a Socket.IO server or client. */
export const packetCodec = { Encoder, Decoder };

/** The same encoding, with decoders that hold unfinished packets within `limits` (for a server facing untrusted peers). */
export function boundedPacketCodec(limits: DecoderLimits): { Encoder: typeof Encoder; Decoder: new () => Decoder } {
  return {
    Encoder,
    Decoder: class BoundedDecoder extends Decoder {
      constructor() {
        super(limits);
      }
    },
  };
}
