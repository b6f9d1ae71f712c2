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
 */
import { Decoder as SocketIoDecoder, Encoder as SocketIoEncoder, PacketType, type Packet } from 'socket.io-parser';

const MARK = 0xf1;
/** Attachments up to this many bytes in all travel in one frame with their packet: copying them costs less than a frame. */
export const ONE_FRAME_MAX_BYTES = 64 * 1024;

/** The bytes of an attachment, whatever view of them Socket.IO hands over. */
function bytesOf(part: ArrayBuffer | ArrayBufferView): Uint8Array {
  return ArrayBuffer.isView(part) ? new Uint8Array(part.buffer, part.byteOffset, part.byteLength) : new Uint8Array(part);
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

export class Decoder extends SocketIoDecoder {
  /** attachments still due to the packet Socket.IO's way, announced by its text */
  private due = 0;

  override add(chunk: unknown): void {
    if (typeof chunk === 'string') {
      super.add(chunk);
      // Socket.IO's binary packets ("51-/agents,...") announce how many attachment frames follow.
      const type = Number(chunk.charAt(0));
      if (type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK) this.due = parseInt(chunk.slice(1), 10);
      return;
    }
    if (this.due > 0) {
      this.due--;
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
    super.add(text);
    for (const attachment of attachments) super.add(attachment);
  }

  override destroy(): void {
    super.destroy();
    this.due = 0;
  }
}

/** For the `parser` option of a Socket.IO server or client. */
export const packetCodec = { Encoder, Decoder };
