import { toArray } from '../storage/store';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeKey, generateKeyPair, randomNonce, signHeader, type UpdateHeader } from '@fl/shared';
import { CoordinatorIdentity } from '../identity/identity';
import { SqliteStore } from '../storage/store.sqlite';
import { AuditLog } from './audit-log';
import { verifyStore } from './store-source';

async function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-audit-'));
  const store = await SqliteStore.open(path.join(dir, 'store.sqlite'));
  const identity = CoordinatorIdentity.fromDataDir(dir);
  const audit = await AuditLog.open(store, identity);
  const kinds = async () => (await toArray(store.auditRecords())).map(({ text }) => (JSON.parse(text) as { kind: string }).kind);
  return { store, audit, identity, kinds };
}

const header = (participant: string): UpdateHeader => ({
  type: 'update', job: 'j', round: 1, participant, nonce: randomNonce(), numSamples: 1, metrics: {}, weightsSha256: 'a'.repeat(64),
});

describe('the audit log', () => {
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
    const record = (name: string) => ({ job: 'j', round: 1, participant: name, sha256: 'a'.repeat(64), numSamples: 1, header: header(name), signature: signHeader('update', header(name), generateKeyPair().secretKey), retained: false });
    audit.defer('update.accepted', 'participant:a', record('a'));
    expect(await kinds()).toEqual(['coordinator.key']);
    await audit.append('user.added', 'operator', { name: 'ada', role: 'admin' });
    expect(await kinds()).toEqual(['coordinator.key', 'update.accepted', 'user.added']);
    audit.defer('update.accepted', 'participant:b', record('b'), { job: 'j', round: 1, participant: 'b', sha256: 'a'.repeat(64), weights: new Uint8Array([1, 2]) });
    await audit.flush();
    expect(await kinds()).toEqual(['coordinator.key', 'update.accepted', 'user.added', 'update.accepted']);
    // the update it retains is written with it
    expect(await store.getRetainedUpdate('j', 1, 'b', 'a'.repeat(64))).toEqual(new Uint8Array([1, 2]));
    await store.close();
  });

  it('seals a deferred record once, when deferred, if nothing takes its place in the chain before it is written', async () => {
    const { store, audit, identity, kinds } = await setup();
    const seal = jest.spyOn(identity, 'seal');
    audit.defer('user.removed', 'operator', { name: 'a' });
    audit.defer('user.removed', 'operator', { name: 'b' });
    expect(seal).toHaveBeenCalledTimes(2);
    await audit.flush();
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
    for (let i = 0; i < n; i++) {
      const name = `p${i}`;
      const retained = { job: 'j', round: 1, participant: name, sha256: 'a'.repeat(64), weights: new Uint8Array([i & 255, 7]) };
      audit.defer('user.removed', 'operator', { name }, retained);
    }
    await audit.flush();
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
    // Deferred after a record of a transaction that then rolls back: its seal names a predecessor that never was.
    await expect(store.transaction(() => {
        audit.append('user.added', 'operator', { name: 'gone', role: 'viewer' });
        audit.defer('user.removed', 'operator', { name: 'a' });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    await audit.flush();
    expect(await kinds()).toEqual(['coordinator.key', 'user.removed']);
    expect((await verifyStore(store)).ok).toBe(true);
    await store.close();
  });

  it('keeps deferred records for the next transaction when the one that took them rolls back', async () => {
    const { store, audit, kinds } = await setup();
    jest.spyOn(store, 'retainUpdates').mockRejectedValue(new Error('disk full'));
    audit.defer('user.removed', 'operator', { name: 'a' }, { job: 'j', round: 1, participant: 'a', sha256: 'a'.repeat(64), weights: new Uint8Array([1]) });
    await expect(audit.flush()).rejects.toThrow('disk full');
    expect(await kinds()).toEqual(['coordinator.key']);
    audit.defer('user.removed', 'operator', { name: 'b' });
    await expect(audit.flush()).rejects.toThrow('disk full');
    expect(await kinds()).toEqual(['coordinator.key']);
    await store.close();
  });
});
