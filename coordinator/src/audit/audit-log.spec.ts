import { toArray } from '../storage/store';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeKey, generateKeyPair, randomNonce, signHeader, type UpdateHeader } from '@fl/shared';
import { CoordinatorIdentity } from '../identity/identity';
import { SqliteStore } from '../storage/store.sqlite';
import { AuditLog, ParticipantsRevoked } from './audit-log';
import { verifyStore } from './store-source';

async function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-audit-'));
  const store = await SqliteStore.open(path.join(dir, 'store.sqlite'));
  const identity = CoordinatorIdentity.fromDataDir(dir);
  const audit = await AuditLog.open(store, identity);
  const kinds = async () => (await toArray(store.auditRecords())).map(({ text }) => (JSON.parse(text) as { kind: string }).kind);
  return { store, audit, identity, kinds };
}

/** Registers participants as approved: the log records an update only from an approved one. */
async function approve(store: SqliteStore, ...names: string[]): Promise<void> {
  for (const name of names) {
    await store.addParticipant({ name, organisation: name, country: '', publicKey: encodeKey(generateKeyPair().publicKey), status: 'approved', invitation: null, decidedAt: 0, decidedBy: 'x', createdAt: 0 });
  }
}

const header = (participant: string, job = 'j'): UpdateHeader => ({
  type: 'update', job, round: 1, participant, nonce: randomNonce(), numSamples: 1, metrics: {}, weightsSha256: 'a'.repeat(64),
});

/** The record of an update accepted from a participant in round 1 of a job. */
const accepted = (name: string, job = 'j') => ({
  job, round: 1, participant: name, sha256: 'a'.repeat(64), numSamples: 1, header: header(name, job), signature: signHeader('update', header(name, job), generateKeyPair().secretKey), retained: false,
});

describe('the audit log', () => {
  it('refuses to open with another key than the one its first record names, and writes nothing', async () => {
    // Arrange: a log started by one key; another data directory's key
    const { store, identity, kinds } = await setup();
    const other = CoordinatorIdentity.fromDataDir(fs.mkdtempSync(path.join(os.tmpdir(), 'fl-other-key-')));
    // Execute, Assert
    await expect(AuditLog.open(store, other)).rejects.toMatchObject({
      code: 'CONFLICT',
      message: `the audit log of this store names coordinator key ${identity.fingerprint} in its first record, and this coordinator's key is ${other.fingerprint}: give it the key the log was started with (--key-file)`,
    });
    expect(await kinds()).toEqual(['coordinator.key']);
    await expect(AuditLog.open(store, identity)).resolves.toBeInstanceOf(AuditLog);
    await store.close();
  });

  it('starts with the coordinator key, and chains records that verify', async () => {
    const { store, audit, kinds } = await setup();
    const keys = generateKeyPair();
    await store.addParticipant({ name: 'p', organisation: 'P', country: '', publicKey: encodeKey(keys.publicKey), status: 'approved', invitation: null, decidedAt: 0, decidedBy: 'x', createdAt: 0 });
    await audit.append('participant.registered', 'user:ada', { name: 'p', organisation: 'P', country: '', publicKey: encodeKey(keys.publicKey) });
    expect(await kinds()).toEqual(['coordinator.key', 'participant.registered']);
    expect((await verifyStore(store)).ok).toBe(true);
    await store.close();
  });

  it('writes deferred records when flushed, or before the next record, in the order things happened', async () => {
    const { store, audit, kinds } = await setup();
    await approve(store, 'a', 'b');
    const run = audit.forRun('j');
    run.defer('update.accepted', 'participant:a', accepted('a'));
    expect(await kinds()).toEqual(['coordinator.key']);
    await audit.append('user.added', 'operator', { name: 'ada', role: 'admin' });
    expect(await kinds()).toEqual(['coordinator.key', 'update.accepted', 'user.added']);
    run.defer('update.accepted', 'participant:b', accepted('b'), { job: 'j', round: 1, participant: 'b', sha256: 'a'.repeat(64), weights: new Uint8Array([1, 2]) });
    await run.flush();
    expect(await kinds()).toEqual(['coordinator.key', 'update.accepted', 'user.added', 'update.accepted']);
    // the update it retains is written with it
    expect(await store.getRetainedUpdate('j', 1, 'b', 'a'.repeat(64))).toEqual(new Uint8Array([1, 2]));
    await store.close();
  });

  it('seals a deferred record once, when deferred, if nothing takes its place in the chain before it is written', async () => {
    const { store, audit, identity, kinds } = await setup();
    const seal = jest.spyOn(identity, 'seal');
    const run = audit.forRun('j');
    run.defer('user.removed', 'operator', { name: 'a' });
    run.defer('user.removed', 'operator', { name: 'b' });
    expect(seal).toHaveBeenCalledTimes(2);
    await run.flush();
    await audit.append('user.added', 'operator', { name: 'c', role: 'viewer' });
    expect(seal).toHaveBeenCalledTimes(3);
    expect(await kinds()).toEqual(['coordinator.key', 'user.removed', 'user.removed', 'user.added']);
    expect((await verifyStore(store)).ok).toBe(true);
    await store.close();
  });

  it("writes a round's thousands of deferred records and retained updates in batches, chained and verifying as one by one", async () => {
    const { store, audit, kinds } = await setup();
    const appends = jest.spyOn(store, 'appendAuditRecords');
    const n = 1234;
    const run = audit.forRun('j');
    for (let i = 0; i < n; i++) {
      const name = `p${i}`;
      const retained = { job: 'j', round: 1, participant: name, sha256: 'a'.repeat(64), weights: new Uint8Array([i & 255, 7]) };
      run.defer('user.removed', 'operator', { name }, retained);
    }
    await run.flush();
    expect(appends).toHaveBeenCalledTimes(1);
    expect(await kinds()).toHaveLength(n + 1);
    const records = (await toArray(store.auditRecords())).map(({ seq, text }) => [seq, (JSON.parse(text) as { seq: number }).seq]);
    expect(records.every(([seq, inside], i) => seq === i + 1 && inside === seq)).toBe(true);
    expect(await verifyStore(store)).toMatchObject({ ok: true });
    expect(await store.getRetainedUpdate('j', 1, `p${n - 1}`, 'a'.repeat(64))).toEqual(new Uint8Array([(n - 1) & 255, 7]));
    await audit.append('user.added', 'operator', { name: 'ada', role: 'admin' });
    expect((await verifyStore(store)).ok).toBe(true);
    await store.close();
  });

  it('seals a deferred record again when the place it was sealed for is gone, so that the chain still verifies', async () => {
    const { store, audit, kinds } = await setup();
    const run = audit.forRun('j');
    // Deferred after a record of a transaction that then rolls back: its seal names a predecessor that never was.
    await expect(store.transaction(() => {
        audit.append('user.added', 'operator', { name: 'gone', role: 'viewer' });
        run.defer('user.removed', 'operator', { name: 'a' });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    await run.flush();
    expect(await kinds()).toEqual(['coordinator.key', 'user.removed']);
    expect((await verifyStore(store)).ok).toBe(true);
    await store.close();
  });

  it('keeps deferred records for the next transaction when the one that took them rolls back', async () => {
    const { store, audit, kinds } = await setup();
    const retain = jest.spyOn(store, 'retainUpdates').mockRejectedValue(new Error('disk full'));
    const run = audit.forRun('j');
    run.defer('user.removed', 'operator', { name: 'a' }, { job: 'j', round: 1, participant: 'a', sha256: 'a'.repeat(64), weights: new Uint8Array([1]) });
    await expect(run.flush()).rejects.toThrow('disk full');
    expect(await kinds()).toEqual(['coordinator.key']);
    run.defer('user.removed', 'operator', { name: 'b' });
    await expect(run.flush()).rejects.toThrow('disk full');
    expect(await kinds()).toEqual(['coordinator.key']);
    retain.mockRestore();
    await run.flush();
    expect(await kinds()).toEqual(['coordinator.key', 'user.removed', 'user.removed']);
    await store.close();
  });

  it("keeps deferred records for the next transaction when a caller's transaction that wrote them rolls back after them", async () => {
    // Prepare: a run's two queued updates; a record of the job written in a caller's transaction, which fails after it
    const { store, audit } = await setup();
    await approve(store, 'a', 'b');
    const run = audit.forRun('A');
    run.defer('update.accepted', 'participant:a', accepted('a', 'A'));
    run.defer('update.accepted', 'participant:b', accepted('b', 'A'));
    const failed = store.transaction(async () => {
      await audit.append('job.control', 'user:ada', { job: 'A', action: 'pause' });
      throw new Error('the job could not be paused');
    });
    await expect(failed).rejects.toThrow('the job could not be paused');
    // Execute: the run writes its queue
    await run.flush();
    // Assert: both updates are recorded, in their order
    const written = (await toArray(store.auditRecords())).map(({ text }) => JSON.parse(text) as { kind: string; data: { participant?: string } });
    expect(written.map((r) => `${r.kind}${r.data.participant ? ` ${r.data.participant}` : ''}`)).toEqual(['coordinator.key', 'update.accepted a', 'update.accepted b']);
    await store.close();
  });

  it("keeps each job's deferred records to its run: another job's flush and records never write them, a record of no job writes them first", async () => {
    const { store, audit } = await setup();
    const written = async () => (await toArray(store.auditRecords())).map(({ text }) => {
      const { kind, data } = JSON.parse(text) as { kind: string; data: { job?: string } };
      return data.job ? `${kind} ${data.job}` : kind;
    });
    await approve(store, 'p', 'q');
    const a = audit.forRun('A');
    const b = audit.forRun('B');
    a.defer('update.accepted', 'participant:p', accepted('p', 'A'));
    b.defer('update.accepted', 'participant:q', accepted('q', 'B'));
    await b.flush();
    b.defer('update.accepted', 'participant:p', accepted('p', 'B'));
    await b.append('job.control', 'user:ada', { job: 'B', action: 'pause' });
    expect(await written()).toEqual(['coordinator.key', 'update.accepted B', 'update.accepted B', 'job.control B']);
    // A record of no job (a participant's status, say) comes after what every job accepted before it.
    await audit.append('user.added', 'operator', { name: 'ada', role: 'admin' });
    expect(await written()).toEqual(['coordinator.key', 'update.accepted B', 'update.accepted B', 'job.control B', 'update.accepted A', 'user.added']);
    await store.close();
  });

  it("drops what a run still defers when it ends, and what it defers after, while a new run of the job keeps its own", async () => {
    const { store, audit, kinds } = await setup();
    await approve(store, 'p', 'q', 'r');
    const ended = audit.forRun('A');
    ended.defer('update.accepted', 'participant:p', accepted('p', 'A'));
    const next = audit.forRun('A');
    ended.defer('update.accepted', 'participant:q', accepted('q', 'A'));
    ended.close();
    ended.defer('update.accepted', 'participant:r', accepted('r', 'A'));
    await ended.flush();
    await audit.append('job.control', 'user:ada', { job: 'A', action: 'pause' });
    await audit.append('user.added', 'operator', { name: 'ada', role: 'admin' });
    expect(await kinds()).toEqual(['coordinator.key', 'job.control', 'user.added']);
    next.defer('update.accepted', 'participant:p', accepted('p', 'A'));
    await audit.append('user.added', 'operator', { name: 'bob', role: 'viewer' });
    expect(await kinds()).toEqual(['coordinator.key', 'job.control', 'user.added', 'update.accepted', 'user.added']);
    await store.close();
  });

  it("leaves out of a run's queue the records of a participant no longer approved: the others go in before another record, and the run's own next write is refused, naming it", async () => {
    const { store, audit, kinds } = await setup();
    const updates = async () => (await toArray(store.auditRecords())).map(({ text }) => JSON.parse(text) as { kind: string; data: { job?: string; participant?: string } }).filter((r) => r.kind === 'update.accepted').map((r) => `${r.data.participant} of ${r.data.job}`);
    await approve(store, 'a', 'b');
    const run = audit.forRun('A');
    run.defer('update.accepted', 'participant:a', accepted('a', 'A'));
    run.defer('update.accepted', 'participant:b', accepted('b', 'A'));
    audit.forRun('B').defer('update.accepted', 'participant:b', accepted('b', 'B'));
    // As another replica's revocation leaves it, committed before this process writes the queues.
    await store.setParticipantStatus('a', 'revoked', 'user:ada', 1);
    await audit.append('user.added', 'operator', { name: 'ada', role: 'admin' });
    expect(await kinds()).toEqual(['coordinator.key', 'update.accepted', 'update.accepted', 'user.added']);
    expect(await updates()).toEqual(['b of A', 'b of B']);
    // The run's next write is refused, writing nothing, and names a, whose update its round must leave out.
    run.defer('update.excluded', 'participant:a', { job: 'A', round: 1, participant: 'a', code: 'IMPLAUSIBLE_WEIGHTS', reason: 'NaN', header: header('a', 'A'), signature: 'x' });
    await expect(run.flush()).rejects.toMatchObject({ constructor: ParticipantsRevoked, code: 'REVOKED', participants: ['a'] });
    expect(await kinds()).toEqual(['coordinator.key', 'update.accepted', 'update.accepted', 'user.added']);
    // What it deferred stays, and goes in at its next write: only contributions need an approved participant.
    await run.flush();
    expect(await kinds()).toEqual(['coordinator.key', 'update.accepted', 'update.accepted', 'user.added', 'update.excluded']);
    await store.close();
  });

  it("holds back from a revocation written here the revoked participant's queued updates, for the run's next write to be refused naming it; a revocation rolled back leaves them to be written", async () => {
    const { store, audit, kinds } = await setup();
    const updates = async () => (await toArray(store.auditRecords())).map(({ text }) => JSON.parse(text) as { kind: string; data: { participant?: string } }).filter((r) => r.kind === 'update.accepted').map((r) => r.data.participant);
    await approve(store, 'a', 'b');
    const run = audit.forRun('A');
    run.defer('update.accepted', 'participant:a', accepted('a', 'A'));
    run.defer('update.accepted', 'participant:b', accepted('b', 'A'));
    // Execute: a revocation of a whose status change fails after its record; then the run writes its queue
    const failed = store.transaction(async () => {
      await audit.append('participant.revoked', 'user:ada', { name: 'a', reason: 'dishonest' });
      throw new Error('the status change failed');
    });
    await expect(failed).rejects.toThrow('the status change failed');
    await run.flush();
    // Assert: nothing of the revocation is kept, and a, approved still, has its update recorded
    expect(await kinds()).toEqual(['coordinator.key', 'update.accepted', 'update.accepted']);
    // Execute: the next round's updates; a is revoked as the registry does it
    run.defer('update.accepted', 'participant:a', accepted('a', 'A'));
    run.defer('update.accepted', 'participant:b', accepted('b', 'A'));
    await store.transaction(async () => {
      await audit.append('participant.revoked', 'user:ada', { name: 'a', reason: 'dishonest' });
      await store.setParticipantStatus('a', 'revoked', 'user:ada', 1);
    });
    // Assert: b's record went in before the revocation, a's waits; the run's next write is refused, naming a, and a's is never written
    expect(await kinds()).toEqual(['coordinator.key', 'update.accepted', 'update.accepted', 'update.accepted', 'participant.revoked']);
    await expect(run.flush()).rejects.toMatchObject({ constructor: ParticipantsRevoked, code: 'REVOKED', participants: ['a'] });
    await run.flush();
    expect((await updates()).sort()).toEqual(['a', 'b', 'b']);
    await store.close();
  });

  it("refuses a run's own write of a queue naming a participant no longer approved, writing nothing, and keeps the others' records for its next", async () => {
    const { store, audit, kinds } = await setup();
    await approve(store, 'a', 'b', 'c');
    const run = audit.forRun('A');
    const retain = (participant: string) => ({ job: 'A', round: 1, participant, sha256: 'a'.repeat(64), weights: new Uint8Array(8) });
    for (const p of ['a', 'b', 'c']) run.defer('update.accepted', `participant:${p}`, { ...accepted(p, 'A'), retained: true }, retain(p));
    await store.setParticipantStatus('b', 'revoked', 'user:ada', 1);
    await expect(run.flush()).rejects.toMatchObject({ constructor: ParticipantsRevoked, participants: ['b'] });
    expect(await kinds()).toEqual(['coordinator.key']);
    await run.flush();
    const records = (await toArray(store.auditRecords())).map(({ text }) => JSON.parse(text) as { kind: string; data: { participant?: string } });
    expect(records.slice(1).map((r) => `${r.kind} ${r.data.participant}`)).toEqual(['update.accepted a', 'update.accepted c']);
    // b's retained update is not kept either.
    const kept = async (p: string) => (await store.getRetainedUpdate('A', 1, p, 'a'.repeat(64))) !== undefined;
    expect([await kept('a'), await kept('b'), await kept('c')]).toEqual([true, false, true]);
    await store.close();
  });
});
