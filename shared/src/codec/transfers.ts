/**
 * Reassembly of messages larger than one frame, per connection and direction:
 * pieces arrive in order into one buffer of the announced size, bounded by the
 * configured largest message; a connection has at most one transfer in flight.
 * The coordinator reassembles what agents send, and agents what it sends.
 */
import type { z } from 'zod';
import { ackError, ackOk, describeZodError, type Ack } from '../protocol/errors';
import { ChunkSchema } from '../protocol/messages';
import { unpackEnvelope } from './envelope';
import { noteJsonSize } from './packets';
import { toBytes } from './weights';

interface Transfer {
  id: string;
  buffer: Uint8Array;
  count: number;
  next: number;
  filled: number;
}

export class TransferAssembler<End extends { transfer: string; event: string }> {
  private transfer: Transfer | undefined;

  /** `endSchema`: what the message ending a transfer must be, naming the events that may travel in pieces. */
  constructor(
    private readonly maxMessageBytes: number,
    private readonly endSchema: z.ZodType<End>,
  ) {}

  /** Takes one piece; a piece 0 starts a new transfer, replacing any unfinished one. */
  receive(body: unknown): Ack {
    const parsed = ChunkSchema.safeParse(body);
    if (!parsed.success) return ackError('INVALID_FRAME', describeZodError(parsed.error));
    const { transfer: id, index, count, totalBytes } = parsed.data;
    const data = toBytes(parsed.data.data);
    if (totalBytes > this.maxMessageBytes) {
      return ackError('FRAME_TOO_LARGE', `a message of ${totalBytes} bytes is over the limit of ${this.maxMessageBytes}`);
    }
    if (index === 0) this.transfer = { id, buffer: new Uint8Array(totalBytes), count, next: 0, filled: 0 };
    const t = this.transfer;
    if (!t || t.id !== id) return ackError('INVALID_FRAME', `no transfer ${id} in progress`);
    if (index !== t.next || count !== t.count || totalBytes !== t.buffer.byteLength) {
      this.transfer = undefined;
      return ackError('INVALID_FRAME', `piece ${index} of ${count} does not follow piece ${t.next - 1} of ${t.count}`);
    }
    if (t.filled + data.byteLength > t.buffer.byteLength) {
      this.transfer = undefined;
      return ackError('INVALID_FRAME', 'the pieces are longer than the announced total');
    }
    t.buffer.set(data, t.filled);
    t.filled += data.byteLength;
    t.next++;
    return ackOk;
  }

  /** Ends a transfer: the reassembled message and the event it was sent as, or the refusal. */
  complete(body: unknown): { event: End['event']; message: unknown } | { refused: Ack } {
    const parsed = this.endSchema.safeParse(body);
    if (!parsed.success) return { refused: ackError('INVALID_FRAME', describeZodError(parsed.error)) };
    const t = this.transfer;
    this.transfer = undefined;
    if (!t || t.id !== parsed.data.transfer) return { refused: ackError('INVALID_FRAME', `no transfer ${parsed.data.transfer} in progress`) };
    if (t.next !== t.count || t.filled !== t.buffer.byteLength) {
      return { refused: ackError('INVALID_FRAME', `transfer ended after ${t.next} of ${t.count} pieces`) };
    }
    // What reading the envelope costs, weighed if it is refused.
    noteJsonSize(body, t.buffer.byteLength);
    try {
      return { event: parsed.data.event, message: unpackEnvelope(t.buffer) };
    } catch (err) {
      return { refused: ackError('INVALID_FRAME', `the reassembled message is malformed: ${(err as Error).message}`) };
    }
  }
}

/** What a message weighs on the wire: its binary fields (top-level in this protocol) plus its JSON, with room for framing. */
export function messageBytes(message: unknown): number {
  let size = 1024;
  for (const value of Object.values(message as Record<string, unknown>)) {
    size += value instanceof Uint8Array ? value.byteLength : Buffer.byteLength(JSON.stringify(value) ?? '');
  }
  return size;
}
