import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeKey, generateKeyPair, randomNonce, signHeader, type UpdateHeader } from '@fl/shared';
import { CoordinatorIdentity } from '../identity/identity';
import { SqliteStore } from '../storage/store.sqlite';
import { AuditLog } from './audit-log';
import { verifyStore } from './store-source';

function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-audit-'));
  const store = new SqliteStore(path.join(dir, 'store.sqlite'));
  const identity = CoordinatorIdentity.fromDataDir(dir);
  const audit = new AuditLog(store, identity);
  const kinds = () => [...store.auditRecords()].map(({ text }) => (JSON.parse(text) as { kind: string }).kind);
  return { store, audit, identity, kinds };
}

const header = (participant: string): UpdateHeader => ({
  type: 'update', job: 'j', round: 1, participant, nonce: randomNonce(), numSamples: 1, metrics: {}, weightsSha256: 'a'.repeat(64),
});

describe('the audit log', () => {
  it('starts with the coordinator key, and chains records that verify', () => {
    const { store, audit, kinds } = setup();
    const keys = generateKeyPair();
    store.addParticipant({ name: 'p', organisation: 'P', country: '', publicKey: encodeKey(keys.publicKey), status: 'approved', invitation: null, decidedAt: 0, decidedBy: 'x', createdAt: 0 });
    audit.append('participant.registered', 'user:ada', { name: 'p', organisation: 'P', country: '', publicKey: encodeKey(keys.publicKey) });
    expect(kinds()).toEqual(['coordinator.key', 'participant.registered']);
    expect(verifyStore(store).ok).toBe(true);
    store.close();
  });

  it('writes deferred records when flushed, or before the next record, in the order things happened', () => {
    const { store, audit, kinds } = setup();
    const record = (name: string) => ({ job: 'j', round: 1, participant: name, sha256: 'a'.repeat(64), numSamples: 1, header: header(name), signature: signHeader('update', header(name), generateKeyPair().secretKey), retained: false });
    audit.defer('update.accepted', 'participant:a', record('a'));
    expect(kinds()).toEqual(['coordinator.key']);
    audit.append('user.added', 'operator', { name: 'ada', role: 'admin' });
    expect(kinds()).toEqual(['coordinator.key', 'update.accepted', 'user.added']);
    let written = false;
    audit.defer('update.accepted', 'participant:b', record('b'), () => (written = true));
    audit.flush();
    expect(kinds()).toEqual(['coordinator.key', 'update.accepted', 'user.added', 'update.accepted']);
    expect(written).toBe(true);
    store.close();
  });

  it('seals a deferred record once, when deferred, if nothing takes its place in the chain before it is written', () => {
    const { store, audit, identity, kinds } = setup();
    const seal = jest.spyOn(identity, 'seal');
    audit.defer('user.removed', 'operator', { name: 'a' });
    audit.defer('user.removed', 'operator', { name: 'b' });
    expect(seal).toHaveBeenCalledTimes(2);
    audit.flush();
    audit.append('user.added', 'operator', { name: 'c', role: 'viewer' });
    expect(seal).toHaveBeenCalledTimes(3);
    expect(kinds()).toEqual(['coordinator.key', 'user.removed', 'user.removed', 'user.added']);
    expect(verifyStore(store).ok).toBe(true);
    store.close();
  });

  it('seals a deferred record again when the place it was sealed for is gone, so that the chain still verifies', () => {
    const { store, audit, kinds } = setup();
    // Deferred after a record of a transaction that then rolls back: its seal names a predecessor that never was.
    expect(() =>
      store.transaction(() => {
        audit.append('user.added', 'operator', { name: 'gone', role: 'viewer' });
        audit.defer('user.removed', 'operator', { name: 'a' });
        throw new Error('rolled back');
      }),
    ).toThrow('rolled back');
    audit.flush();
    expect(kinds()).toEqual(['coordinator.key', 'user.removed']);
    expect(verifyStore(store).ok).toBe(true);
    store.close();
  });

  it('keeps deferred records for the next transaction when the one that took them rolls back', () => {
    const { store, audit, kinds } = setup();
    const fails = () => {
      throw new Error('disk full');
    };
    audit.defer('user.removed', 'operator', { name: 'a' }, fails);
    expect(() => audit.flush()).toThrow('disk full');
    expect(kinds()).toEqual(['coordinator.key']);
    audit.defer('user.removed', 'operator', { name: 'b' });
    expect(() => audit.flush()).toThrow('disk full');
    expect(kinds()).toEqual(['coordinator.key']);
    store.close();
  });
});
