/**
 * The agent handshake: a signed, timestamped, single-use challenge in the
 * Socket.IO `auth` field. Checked in this order: schema, signature (under the
 * key it claims), timestamp window, nonce not seen, key registered.
 */
import { decodePublicKey, describeZodError, FlError, HandshakeSchema, PROTOCOL_VERSION, verifyHeader, type ErrorBody, type Handshake } from '@fl/shared';
import type { ParticipantRecord, ParticipantRepository } from '../storage/store';
import { FailureLimiter, type FailureLimits } from '../failure-limiter';
import { InProcessSharedState, type SharedState } from '../cluster/shared-state';

/** Why a participant's connection or message is refused by its status; null when approved. */
export function statusRefusal(participant: ParticipantRecord): ErrorBody | null {
  switch (participant.status) {
    case 'approved':
      return null;
    case 'revoked':
      return { code: 'REVOKED', message: `${participant.name} was revoked by a consortium admin` };
    case 'rejected':
      return { code: 'NOT_APPROVED', message: `the enrollment of ${participant.name} was rejected` };
    case 'pending':
      return { code: 'NOT_APPROVED', message: `the enrollment of ${participant.name} waits for a consortium admin's approval` };
  }
}

/** The window in which a key's refused messages are counted (`--max-refusals-per-connection` of them close its connection). */
export const REFUSAL_WINDOW_MS = 60_000;

/**
 * Connections a key may open in a minute. An agent reconnects after seconds of
 * backoff; each connection costs the coordinator a handshake and the resending
 * of the request it awaits (the model, megabytes), so a loop of reconnections
 * is refused before it costs that.
 */
export const MAX_CONNECTIONS_PER_MINUTE = 60;

export class HandshakeVerifier {
  /**
   * `nonces`: where a nonce is claimed, refused again until its timestamp leaves
   * the window; shared by replicas through Redis. `startedAt`: the nonces seen
   * before it may not be known (memory is lost at a restart), so a handshake
   * signed before it is refused as a possible replay. An agent signs a fresh one
   * at every attempt, so it is let in on the next.
   */
  constructor(
    private readonly participants: ParticipantRepository,
    private readonly windowMs: number,
    private readonly limiter: FailureLimits = new FailureLimiter(20, 60_000),
    private readonly startedAt = Date.now(),
    private readonly nonces: Pick<SharedState, 'claimOnce'> = new InProcessSharedState(),
    /** refused messages per key in a window, over all its connections (AgentGateway); shared by replicas */
    private readonly refusals: FailureLimits = new FailureLimiter(100, REFUSAL_WINDOW_MS),
    /** connections per key a minute; shared by replicas */
    private readonly connections: FailureLimits = new FailureLimiter(MAX_CONNECTIONS_PER_MINUTE, 60_000),
  ) {}

  /**
   * Counts a refused message of this key's, as `weight` refusals; true once the
   * key has had its share of the window: its connection is closed and its
   * handshakes are refused until the window is over, or reconnecting would
   * start the count afresh.
   */
  async refused(publicKey: string, weight = 1, now = Date.now()): Promise<boolean> {
    await this.refusals.fail(`key:${publicKey}`, now, weight);
    return await this.refusals.blocked(`key:${publicKey}`, now);
  }

  /**
   * Verifies a handshake from an address. Every failure counts against the
   * address; against the key it names only when the key's holder signed it
   * afresh (signature, timestamp and nonce good): a stranger who merely names a
   * key, or replays a handshake it saw, cannot lock that key's holder out.
   */
  async verify(auth: unknown, now = Date.now(), address = 'unknown'): Promise<{ participant: ParticipantRecord; handshake: Handshake }> {
    const addressKey = `address:${address}`;
    if (await this.limiter.blocked(addressKey, now)) throw this.rateLimited();
    const signed: { key?: string } = {};
    try {
      return await this.check(auth, now, signed);
    } catch (err) {
      await this.limiter.fail(addressKey, now);
      if (signed.key) await this.limiter.fail(signed.key, now);
      throw err;
    }
  }

  private rateLimited(): FlError {
    return new FlError('RATE_LIMITED', `too many failed handshakes; wait up to ${this.limiter.windowMs / 1000}s`);
  }

  /** Checks a handshake; sets `signed.key` once it is known to come from the key's holder. */
  private async check(auth: unknown, now: number, signed: { key?: string }): Promise<{ participant: ParticipantRecord; handshake: Handshake }> {
    const offered = protocolOf(auth);
    if (offered !== PROTOCOL_VERSION) {
      // Before the schema: an agent of another version would otherwise be told only that a field is wrong.
      throw new FlError(
        'UNSUPPORTED_PROTOCOL',
        `this coordinator speaks protocol version ${PROTOCOL_VERSION}; the agent speaks ${offered === undefined ? 'version 1 (its handshake names none)' : `version ${JSON.stringify(offered)}`}: upgrade the older of the two`,
      );
    }
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
    if (header.timestamp < this.startedAt) {
      throw new FlError('REPLAYED_NONCE', 'the handshake was signed before the coordinator started: it cannot be told from a replay; sign a new one');
    }
    if (!(await this.nonces.claimOnce(`handshake:${header.publicKey}:${header.nonce}`, header.timestamp + this.windowMs, now))) {
      throw new FlError('REPLAYED_NONCE', 'this handshake was already used');
    }
    signed.key = `key:${header.publicKey}`;
    if (await this.limiter.blocked(signed.key, now)) throw this.rateLimited();
    if (await this.refusals.blocked(signed.key, now)) {
      throw new FlError('RATE_LIMITED', `this key's connection was closed for too many refused messages; wait up to ${REFUSAL_WINDOW_MS / 1000} s`);
    }
    const participant = await this.participants.getParticipantByKey(header.publicKey);
    if (!participant) throw new FlError('UNKNOWN_PARTICIPANT', 'this public key is not registered with the coordinator');
    const refused = statusRefusal(participant);
    if (refused) throw new FlError(refused.code, refused.message);
    if (!(await this.connections.attempt(signed.key, now))) {
      throw new FlError('RATE_LIMITED', `more than ${this.connections.maxFailures} connections of this key within a minute; wait before connecting again`);
    }
    return { participant, handshake: parsed.data };
  }
}

/** The protocol version a handshake names; undefined when it names none (version 1), or is no handshake at all. */
function protocolOf(auth: unknown): unknown {
  const header = (auth as { header?: unknown } | null)?.header;
  if (typeof header !== 'object' || header === null) return PROTOCOL_VERSION; // not a handshake: the schema says why
  return (header as { protocol?: unknown }).protocol;
}
