/**
 * The agent handshake: a signed, timestamped, single-use challenge in the
 * Socket.IO `auth` field. Checked in this order: schema, signature (under the
 * key it claims), timestamp window, nonce not seen, key registered.
 */
import { decodePublicKey, FlError, HandshakeSchema, verifyHeader, type Handshake } from '@fl/shared';
import type { ParticipantRecord, ParticipantRepository } from '../storage/store';
import { describeZodError } from '../rounds/round-engine';

export class HandshakeVerifier {
  /** nonce -> expiry; a nonce is refused again until its timestamp leaves the window */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly participants: ParticipantRepository,
    private readonly windowMs: number,
  ) {}

  verify(auth: unknown, now = Date.now()): { participant: ParticipantRecord; handshake: Handshake } {
    const parsed = HandshakeSchema.safeParse(auth);
    if (!parsed.success) throw new FlError('INVALID_FRAME', `handshake ${describeZodError(parsed.error)}`);
    const { header, signature } = parsed.data;
    const key = decodePublicKey(header.publicKey);
    if (!key || !verifyHeader('handshake', header, signature, key)) {
      throw new FlError('BAD_SIGNATURE', 'the handshake signature does not verify');
    }
    if (Math.abs(now - header.timestamp) > this.windowMs) {
      throw new FlError('STALE_TIMESTAMP', `the handshake timestamp is more than ${this.windowMs / 1000}s from the coordinator's clock`);
    }
    this.prune(now);
    const nonceKey = `${header.publicKey}:${header.nonce}`;
    if (this.seen.has(nonceKey)) throw new FlError('REPLAYED_NONCE', 'this handshake was already used');
    this.seen.set(nonceKey, header.timestamp + this.windowMs);
    const participant = this.participants.getParticipantByKey(header.publicKey);
    if (!participant) throw new FlError('UNKNOWN_PARTICIPANT', 'this public key is not registered with the coordinator');
    return { participant, handshake: parsed.data };
  }

  private prune(now: number): void {
    for (const [nonce, expiry] of this.seen) if (expiry < now) this.seen.delete(nonce);
  }
}
