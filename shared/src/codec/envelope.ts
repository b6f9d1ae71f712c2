/**
 * Messages larger than one Socket.IO frame travel in chunks. A message is first
 * packed into one byte string (an envelope): a 4-byte little-endian length, the
 * message's JSON with each top-level binary field replaced by a marker, then the
 * binary fields' bytes. The receiver reassembles the chunks and unpacks the same
 * message object it would have received whole, so every check still applies.
 */
import { noteJsonSize } from './packets';
import { isBinary, toBytes } from './weights';

const MARKER = '$binary';

export function packEnvelope(message: Record<string, unknown>): Uint8Array {
  const parts: Uint8Array[] = [];
  let offset = 0;
  const json: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(message)) {
    if (isBinary(value)) {
      const bytes = toBytes(value);
      json[key] = { [MARKER]: [offset, bytes.byteLength] };
      parts.push(bytes);
      offset += bytes.byteLength;
    } else json[key] = value;
  }
  const head = Buffer.from(JSON.stringify(json), 'utf8');
  const out = Buffer.allocUnsafe(4 + head.byteLength + offset);
  out.writeUInt32LE(head.byteLength, 0);
  head.copy(out, 4);
  let at = 4 + head.byteLength;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** The message packed in an envelope; throws on anything malformed. */
export function unpackEnvelope(envelope: Uint8Array): Record<string, unknown> {
  const bytes = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  if (bytes.byteLength < 4) throw new Error('envelope too short');
  const headLength = bytes.readUInt32LE(0);
  if (4 + headLength > bytes.byteLength) throw new Error('envelope head overruns the envelope');
  const json: unknown = JSON.parse(bytes.subarray(4, 4 + headLength).toString('utf8'));
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('envelope head is not an object');
  const body = bytes.subarray(4 + headLength);
  const message: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    const range = (value as Record<string, unknown> | null)?.[MARKER];
    if (Array.isArray(range)) {
      const [start, length] = range as unknown[];
      if (!Number.isInteger(start) || !Number.isInteger(length) || (start as number) < 0 || (length as number) < 0 || (start as number) + (length as number) > body.byteLength) {
        throw new Error('envelope binary range out of bounds');
      }
      message[key] = body.subarray(start as number, (start as number) + (length as number));
    } else message[key] = value;
  }
  noteJsonSize(message, headLength);
  return message;
}

/** Cuts bytes into views of at most `size` bytes; no copy. */
export function chunk(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.byteLength; at += size) out.push(bytes.subarray(at, Math.min(at + size, bytes.byteLength)));
  return out.length ? out : [bytes];
}

/** Room left in a frame for a piece's own fields and Socket.IO's framing. */
export const PIECE_OVERHEAD_BYTES = 16 * 1024;

/**
 * A message too large for one frame, as the protocol sends it: the `chunk`
 * messages, to be sent in order, each once the previous one is acknowledged,
 * then the `chunked` message that names the event it stands for.
 */
export function inPieces<E extends string>(
  message: Record<string, unknown>,
  event: E,
  maxFrameBytes: number,
  transfer: string,
): { totalBytes: number; pieces: { transfer: string; index: number; count: number; totalBytes: number; data: Uint8Array }[]; end: { transfer: string; event: E } } {
  const envelope = packEnvelope(message);
  const parts = chunk(envelope, Math.max(1024, maxFrameBytes - PIECE_OVERHEAD_BYTES));
  const pieces = parts.map((data, index) => ({ transfer, index, count: parts.length, totalBytes: envelope.byteLength, data }));
  return { totalBytes: envelope.byteLength, pieces, end: { transfer, event } };
}
