/**
 * Who may take part: invitations, enrollment, and the admin's decisions.
 *
 * An admin invites an organisation (one-time token, expiry, country); the site
 * enrolls its public key with the token, proving it holds the key; an admin
 * approves or rejects; approval can be revoked at any time, which closes the
 * live connection at once. Only approved keys pass the handshake and have their
 * messages accepted. Every step is an audit record, written in the same
 * transaction as the change.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  decodePublicKey,
  EnrollmentRequestSchema,
  FlError,
  sha256Hex,
  verifyHeader,
  type CreatedInvitationView,
  type DecisionRequest,
  type EnrolledHeader,
  type EnrolledResponse,
  type ErrorBody,
  type InvitationView,
  type NewInvitationRequest,
  type ParticipantStatus,
  type RegisterParticipantRequest,
} from '@fl/shared';
import type { AuditLog } from '../audit/audit-log';
import type { CoordinatorIdentity } from '../identity/identity';
import { parseBody as parse } from '../validation';
import type { InvitationRecord, ParticipantRecord, Store } from '../storage/store';
import type { ParticipantStatusRelay } from '../cluster/participant-status';
import type { Clock } from '../core/clock';
import type { FailureLimits } from '../failure-limiter';
import { invitationStatus, toInvitationView } from './participant.views';

/** How a token is stored and looked up: its SHA-256, never the token itself. */
const digest = (token: string) => sha256Hex(Buffer.from(token, 'utf8'));

export interface RegistryOptions {
  store: Store;
  audit: AuditLog;
  identity: CoordinatorIdentity;
  /** tells every replica of a decision: a revocation closes the live connection wherever it is */
  statuses: Pick<ParticipantStatusRelay, 'changed'>;
  /** how far an enrollment's signed timestamp may be from the coordinator's clock */
  windowMs: number;
  /** failed enrollments per address, so that tokens cannot be guessed */
  failures: FailureLimits;
  /** invitations expire by it */
  clock: Clock;
}

export class ParticipantRegistry {
  constructor(private readonly o: RegistryOptions) {}

  /** The answer holds the one-time token: it is shown this once and stored only as a hash. */
  async createInvitation(input: NewInvitationRequest, actor: string, now = this.o.clock.now()): Promise<CreatedInvitationView> {
    const token = `fl_inv_${randomBytes(32).toString('base64url')}`;
    const record: InvitationRecord = {
      id: randomUUID(),
      tokenDigest: digest(token),
      organisation: input.organisation,
      country: input.country,
      name: input.name ?? null,
      expiresAt: Math.round(now + input.expiresInHours * 3_600_000),
      createdAt: now,
      createdBy: actor,
      cancelledAt: null,
      usedAt: null,
      usedBy: null,
    };
    await this.o.store.transaction(async () => {
      await this.o.store.addInvitation(record);
      const { id, organisation, name, expiresAt, tokenDigest } = record;
      await this.o.audit.append('invitation.created', actor, { id, organisation, country: record.country, name, expiresAt, tokenSha256: tokenDigest }, now);
    });
    return { ...toInvitationView(record, now), token };
  }

  async listInvitations(now = this.o.clock.now()): Promise<InvitationView[]> {
    return (await this.o.store.listInvitations()).map((i) => toInvitationView(i, now));
  }

  async cancelInvitation(id: string, actor: string, now = this.o.clock.now()): Promise<InvitationView> {
    const invitation = await this.o.store.getInvitation(id);
    if (!invitation) throw new FlError('NOT_FOUND', `no invitation ${id}`);
    if (invitationStatus(invitation, now) !== 'open') throw new FlError('CONFLICT', `invitation ${id} is ${invitationStatus(invitation, now)}`);
    await this.o.store.transaction(async () => {
      await this.o.store.closeInvitation(id, { cancelledAt: now });
      await this.o.audit.append('invitation.cancelled', actor, { id }, now);
    });
    return toInvitationView((await this.o.store.getInvitation(id))!, now);
  }

  /**
   * A site enrolls its key with an invitation's token. Checked in this order:
   * rate limit, schema, signature (the site holds the key), timestamp, token,
   * then the name and key are free. Failures count against the address, a
   * malformed body included: that is why the body is parsed here, after the
   * rate limit, rather than by the controller.
   */
  async enroll(body: unknown, address: string, now = this.o.clock.now()): Promise<EnrolledResponse> {
    const limiterKey = `address:${address}`;
    if (await this.o.failures.blocked(limiterKey, now)) {
      throw new FlError('RATE_LIMITED', `too many failed enrollments; wait up to ${this.o.failures.windowMs / 1000}s`);
    }
    try {
      return await this.checkedEnroll(body, now);
    } catch (err) {
      if (err instanceof FlError && err.code !== 'CONFLICT') await this.o.failures.fail(limiterKey, now);
      throw err;
    }
  }

  private async checkedEnroll(body: unknown, now: number): Promise<EnrolledResponse> {
    const { header, signature } = parse(EnrollmentRequestSchema, body);
    const key = decodePublicKey(header.publicKey);
    if (!key || !verifyHeader('enrollment', header, signature, key)) {
      throw new FlError('BAD_SIGNATURE', 'the enrollment is not signed by the key it registers');
    }
    // The site signed its wall-clock time, so freshness is judged by the wall clock, not by the clock of expiries.
    if (Math.abs(Date.now() - header.timestamp) > this.o.windowMs) {
      throw new FlError('STALE_TIMESTAMP', `the enrollment timestamp is more than ${this.o.windowMs / 1000}s from the coordinator's clock`);
    }
    const invitation = await this.o.store.getInvitationByDigest(digest(header.token));
    if (!invitation) throw new FlError('INVITATION_INVALID', 'no invitation has this token');
    const status = invitationStatus(invitation, now);
    if (status === 'used') {
      // The same site asking again (its first answer was lost) gets the same answer; anyone else is refused.
      const enrolled = invitation.usedBy === null ? undefined : await this.o.store.getParticipant(invitation.usedBy);
      if (enrolled && enrolled.publicKey === header.publicKey) return this.enrolledResponse(enrolled, header.nonce, now);
      throw new FlError('INVITATION_USED', 'this invitation was used already; ask the consortium admin for a new one');
    }
    if (status === 'cancelled') throw new FlError('INVITATION_INVALID', 'this invitation was cancelled');
    if (status === 'expired') throw new FlError('INVITATION_EXPIRED', `this invitation expired at ${new Date(invitation.expiresAt).toISOString()}`);
    if (invitation.name !== null && invitation.name !== header.name) {
      throw new FlError('VALIDATION_FAILED', `this invitation is for the participant name ${invitation.name}`);
    }
    const record: ParticipantRecord = {
      name: header.name,
      organisation: invitation.organisation,
      country: invitation.country,
      publicKey: header.publicKey,
      status: 'pending',
      invitation: invitation.id,
      decidedAt: null,
      decidedBy: null,
      createdAt: now,
    };
    await this.o.store.transaction(async () => {
      await this.o.store.addParticipant(record);
      await this.o.store.closeInvitation(invitation.id, { usedBy: record.name, at: now });
      const { name, organisation } = record;
      await this.o.audit.append('participant.enrolled', `invitation:${invitation.id}`, { name, organisation, country: record.country, publicKey: record.publicKey, invitation: invitation.id }, now);
    });
    return this.enrolledResponse(record, header.nonce, now);
  }

  /** An admin registers a key directly (it was exchanged out of band): approved at once. */
  async register(input: RegisterParticipantRequest, actor: string, now = this.o.clock.now()): Promise<ParticipantRecord> {
    const record: ParticipantRecord = { ...input, status: 'approved', invitation: null, decidedAt: now, decidedBy: actor, createdAt: now };
    await this.o.store.transaction(async () => {
      await this.o.store.addParticipant(record);
      const { name, organisation, country, publicKey } = record;
      await this.o.audit.append('participant.registered', actor, { name, organisation, country, publicKey }, now);
    });
    return record;
  }

  /**
   * approve: pending (or rejected) -> approved. reject: pending -> rejected.
   * revoke: approved -> revoked, effective at once: the live connection is
   * closed with the reason, and later messages are refused.
   */
  async decide(name: string, action: 'approve' | 'reject' | 'revoke', { reason }: DecisionRequest, actor: string, now = this.o.clock.now()): Promise<ParticipantRecord> {
    const participant = await this.o.store.getParticipant(name);
    if (!participant) throw new FlError('NOT_FOUND', `no participant ${name}`);
    const allowed: readonly ParticipantStatus[] = { approve: ['pending', 'rejected'] as const, reject: ['pending'] as const, revoke: ['approved', 'pending'] as const }[action];
    if (!allowed.includes(participant.status)) throw new FlError('CONFLICT', `participant ${name} is ${participant.status}: it cannot be ${action}d`);
    const status = ({ approve: 'approved', reject: 'rejected', revoke: 'revoked' } as const)[action];
    await this.o.store.transaction(async () => {
      // The record first: the queued updates it writes before itself are checked against the status as it was; the revoked's own it holds back, for its round to leave out.
      if (action === 'approve') await this.o.audit.append('participant.approved', actor, { name }, now);
      else await this.o.audit.append(action === 'reject' ? 'participant.rejected' : 'participant.revoked', actor, { name, reason }, now);
      // Only from a status the check above allowed, as it is now: a concurrent decision (a revocation) is not undone.
      await this.o.store.setParticipantStatus(name, status, actor, now, allowed);
    });
    const close: ErrorBody | undefined = action === 'revoke' ? { code: 'REVOKED', message: `an admin revoked ${name}${reason ? `: ${reason}` : ''}` } : undefined;
    this.o.statuses.changed(name, status, close);
    return (await this.o.store.getParticipant(name))!;
  }

  private enrolledResponse(p: ParticipantRecord, nonce: string, now: number): EnrolledResponse {
    const header: EnrolledHeader = {
      type: 'enrolled',
      participant: p.name,
      organisation: p.organisation,
      country: p.country,
      publicKey: p.publicKey,
      status: p.status,
      coordinatorKey: this.o.identity.publicKey,
      nonce,
      issuedAt: now,
    };
    return { header, signature: this.o.identity.sign('enrolled', header) };
  }
}
