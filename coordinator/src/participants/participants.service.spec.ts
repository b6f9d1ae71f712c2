import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Test } from '@nestjs/testing';
import { CreatedInvitationViewSchema, encodeKey, fingerprint, generateKeyPair, InvitationViewSchema, ParticipantViewSchema, randomNonce, signHeader } from '@fl/shared';
import { AuditLog } from '../audit/audit-log';
import { FailureLimiter } from '../failure-limiter';
import { CoordinatorIdentity } from '../identity/identity';
import { SqliteStore } from '../storage/store.sqlite';
import { STORE } from '../storage/store';
import { AgentConnections } from './connections';
import { ParticipantsService } from './participants.service';
import { systemClock } from '../core/clock';
import { ParticipantRegistry } from './registry';
import { ParticipantStatusRelay } from '../cluster/participant-status';
import { AgentRelay } from '../cluster/agent-relay';
import { InProcessSharedState } from '../cluster/shared-state';

async function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-participants-'));
  const store = await SqliteStore.open(path.join(dir, 'store.sqlite'));
  const identity = CoordinatorIdentity.fromDataDir(dir);
  const audit = await AuditLog.open(store, identity);
  const connections = new AgentConnections();
  const statuses = new ParticipantStatusRelay(new InProcessSharedState(), connections, store);
  const registry = new ParticipantRegistry({ store, audit, identity, statuses, windowMs: 60_000, failures: new FailureLimiter(5, 60_000), clock: systemClock });
  const module = await Test.createTestingModule({
    providers: [
      { provide: STORE, useValue: store },
      { provide: AgentRelay, useValue: new AgentRelay(connections, false) },
      { provide: ParticipantRegistry, useValue: registry },
      ParticipantsService,
    ],
  }).compile();
  return { store, registry, participants: module.get(ParticipantsService) };
}

describe('participants as the admin sees them', () => {
  it('registers a key and shows the participant as the shared view, with its fingerprint and presence', async () => {
    const { store, participants } = await setup();
    const keys = generateKeyPair();
    const view = await participants.register({ name: 'clinic-a', organisation: 'Clinic A', country: 'CH', publicKey: encodeKey(keys.publicKey) }, 'user:ada');
    expect(ParticipantViewSchema.strict().parse(view)).toMatchObject({
      name: 'clinic-a',
      status: 'approved',
      fingerprint: fingerprint(keys.publicKey),
      online: false,
      lastSeen: null,
      roundsContributed: 0,
      decidedBy: 'user:ada',
    });
    expect(await participants.list()).toEqual([view]);
    const revoked = await participants.decide('clinic-a', 'revoke', { reason: 'left the consortium' }, 'user:ada');
    expect(revoked.status).toBe('revoked');
    await store.close();
  });

  it('lets one of two decisions made at once on a participant apply, the other refused: a revocation is never undone by a concurrent approval', async () => {
    // Prepare: a pending participant; one admin revokes it while another approves it
    const { store, registry } = await setup();
    const publicKey = encodeKey(generateKeyPair().publicKey);
    await store.addParticipant({ name: 'clinic-c', organisation: 'Clinic C', country: '', publicKey, status: 'pending', invitation: null, decidedAt: null, decidedBy: null, createdAt: 0 });
    // Execute
    const [revoked, approved] = await Promise.allSettled([
      registry.decide('clinic-c', 'revoke', { reason: 'compromised key' }, 'user:ada'),
      registry.decide('clinic-c', 'approve', { reason: '' }, 'user:bob'),
    ]);
    // Assert: the revocation, first, holds; the approval is refused and left no record
    expect(revoked).toMatchObject({ status: 'fulfilled', value: { status: 'revoked' } });
    expect(approved).toMatchObject({ status: 'rejected', reason: { code: 'CONFLICT', message: 'participant clinic-c is revoked now: it cannot become approved' } });
    expect((await store.getParticipant('clinic-c'))!.status).toBe('revoked');
    const decisions = [];
    for await (const { text } of store.auditRecords()) decisions.push((JSON.parse(text) as { kind: string }).kind);
    expect(decisions.filter((k) => k.startsWith('participant.'))).toEqual(['participant.revoked']);
    await store.close();
  });

  it('refuses an enrollment whose key is not canonical base64 as invalid, counted against the address', async () => {
    // Prepare: a key whose last character carries bits beyond the 32 bytes (it decodes to nothing), signed by the real key
    const { store, registry } = await setup();
    const invitation = await registry.createInvitation({ organisation: 'Clinic D', country: '', expiresInHours: 1 }, 'user:ada');
    const keys = generateKeyPair();
    const canonical = encodeKey(keys.publicKey);
    const last = canonical[42];
    const publicKey = `${canonical.slice(0, 42)}${last === 'z' ? 'y' : String.fromCharCode(last.charCodeAt(0) + 1)}=`;
    const header = { type: 'enrollment' as const, token: invitation.token, name: 'clinic-d', publicKey, timestamp: Date.now(), nonce: randomNonce() };
    const body = { header, signature: signHeader('enrollment', header, keys.secretKey) };
    // Execute: six tries from one address
    const codes: string[] = [];
    for (let i = 0; i < 6; i++) codes.push(await registry.enroll(body, '192.0.2.7').then(() => 'ENROLLED', (err: { code?: string }) => err.code ?? String(err)));
    // Assert: a clear refusal (never an internal error), and the limiter stops the address after five
    expect(codes).toEqual([...Array(5).fill('VALIDATION_FAILED'), 'RATE_LIMITED']);
    await store.close();
  });

  it("keeps a revoked participant's name for good: enrolling or registering it with a new key, or approving it, is refused, so that nothing kept of the revoked site (SCAFFOLD's c_i) passes to another", async () => {
    // Prepare: clinic-e registered, then revoked
    const { store, registry } = await setup();
    const original = encodeKey(generateKeyPair().publicKey);
    await registry.register({ name: 'clinic-e', organisation: 'Clinic E', country: '', publicKey: original }, 'user:ada');
    await registry.decide('clinic-e', 'revoke', { reason: 'dishonest' }, 'user:ada');
    // Execute: an invitation made out to the name, enrolled with a new key; a registration with a new key; an approval
    const invitation = await registry.createInvitation({ organisation: 'Clinic E', country: '', expiresInHours: 1, name: 'clinic-e' }, 'user:ada');
    const keys = generateKeyPair();
    const header = { type: 'enrollment' as const, token: invitation.token, name: 'clinic-e', publicKey: encodeKey(keys.publicKey), timestamp: Date.now(), nonce: randomNonce() };
    const refusal = (attempt: Promise<unknown>) => attempt.then(() => 'done', (err: { code?: string; message?: string }) => `${err.code} ${err.message}`);
    const enrolled = await refusal(registry.enroll({ header, signature: signHeader('enrollment', header, keys.secretKey) }, '192.0.2.8'));
    const registered = await refusal(registry.register({ name: 'clinic-e', organisation: 'Clinic E', country: '', publicKey: encodeKey(generateKeyPair().publicKey) }, 'user:ada'));
    const approved = await refusal(registry.decide('clinic-e', 'approve', { reason: '' }, 'user:ada'));
    // Assert: each refused with a code; the name stays revoked, with its first key
    expect(enrolled).toBe('CONFLICT a participant with this name or public key exists already');
    expect(registered).toBe('CONFLICT a participant with this name or public key exists already');
    expect(approved).toBe('CONFLICT participant clinic-e is revoked: it cannot be approved');
    expect(await store.getParticipant('clinic-e')).toMatchObject({ status: 'revoked', publicKey: original });
    await store.close();
  });

  it('shows invitations without their token digest, and the token only when made', async () => {
    const { store, registry } = await setup();
    const created = await registry.createInvitation({ organisation: 'Clinic B', country: '', expiresInHours: 1 }, 'user:ada', 1_000);
    expect(CreatedInvitationViewSchema.strict().parse(created)).toMatchObject({ organisation: 'Clinic B', status: 'open', expiresAt: 1_000 + 3_600_000 });
    const [listed] = await registry.listInvitations(2_000);
    const { token, ...shown } = created;
    expect(token).toMatch(/^fl_inv_/);
    expect(InvitationViewSchema.strict().parse(listed)).toEqual(shown);
    expect(JSON.stringify(listed)).not.toMatch(/digest|fl_inv_/);
    expect((await registry.listInvitations(1_000 + 3_600_000))[0].status).toBe('expired');
    await store.close();
  });
});
