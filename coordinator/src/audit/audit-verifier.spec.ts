/**
 * The REST API's audit verification: on a thread with a read-only connection,
 * one snapshot of a store that goes on being written, one at a time.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AUDIT_ANCHORS_FILE, encodeKey, FlError, generateKeyPair } from '@fl/shared';
import { CoordinatorLogger } from '../logger';
import { AuditAnchors } from './audit-anchors';
import { CoordinatorIdentity } from '../identity/identity';
import { SqliteStore, STORE_FILE } from '../storage/store.sqlite';
import { AuditLog } from './audit-log';
import { AuditVerifier } from './audit-verifier';
import { verifyStore } from './store-source';

async function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-verifier-'));
  const file = path.join(dir, STORE_FILE);
  const store = await SqliteStore.open(file);
  const audit = await AuditLog.open(store, CoordinatorIdentity.fromDataDir(dir));
  const register = async (name: string) => {
    const participant = { name, organisation: name, country: '', publicKey: encodeKey(generateKeyPair().publicKey) };
    await store.transaction(async () => {
      await store.addParticipant({ ...participant, status: 'approved', invitation: null, decidedAt: 0, decidedBy: 'test', createdAt: 0 });
      await audit.append('participant.registered', 'user:test', participant);
    });
  };
  for (const name of ['a', 'b', 'c']) await register(name);
  const warnings: string[] = [];
  const anchors = path.join(dir, AUDIT_ANCHORS_FILE);
  const verifier = (at = dir) => new AuditVerifier(store, { dataDir: at }, anchors, (level, message) => level === 'warn' && warnings.push(message));
  return { dir, file, store, register, warnings, verifier, anchors, audit };
}

/** Whether the event loop turned (a setImmediate ran) before `promise` settled: it cannot when the work runs on the loop. */
async function loopTurnedDuring<T>(promise: () => Promise<T>): Promise<[T, boolean]> {
  let turned = false;
  setImmediate(() => (turned = true));
  const result = await promise();
  return [result, turned];
}

describe('the audit verifier', () => {
  it('verifies on a thread while the event loop goes on, and reports what verifyStore reports', async () => {
    // Prepare
    const { store, warnings, verifier, anchors } = await setup();
    // Execute
    const [report, turned] = await loopTurnedDuring(() => verifier().verify());
    // Assert
    expect(turned).toBe(true);
    expect(warnings).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.lines).toEqual((await verifyStore(store, undefined, { anchorsFile: anchors })).lines);
    expect(report.lines.at(-1)).toBe("store tables: 3 participants, 0 jobs, 0 rounds and the filters' index of 4 records agree with the log");
    await store.close();
  });

  it('holds the log to the heads anchored beside the store: records cut from its end fail', async () => {
    // Prepare: every head anchored as it is written, then the newest record deleted behind the log's back
    const { file, store, register, verifier, anchors, audit } = await setup();
    const anchoring = new AuditAnchors(store, anchors, new CoordinatorLogger('error', () => undefined));
    const unwatch = anchoring.watch(audit);
    await register('d');
    await new Promise((resolve) => setImmediate(resolve));
    unwatch();
    const head = (await store.auditHead())!;
    expect((await verifier().verify()).ok).toBe(true);
    const other = new Database(file);
    other.prepare('DELETE FROM audit WHERE seq = ?').run(head.seq);
    other.prepare("DELETE FROM participants WHERE name = 'd'").run();
    other.close();
    // Execute
    const report = await verifier().verify();
    // Assert
    expect(report.failure).toEqual({
      where: 'the audit anchors',
      reason: expect.stringMatching(new RegExp(`^the log ends at record ${head.seq - 1}, but record ${head.seq} was anchored at .*: records were removed from its end$`)),
    });
    await store.close();
  });

  it.each([
    ['leaves a record out of a participant\'s', 'DELETE FROM audit_participants WHERE seq = 3', 'audit record 3 (table audit of the store)', "the filters' index names the participants [] for it, its text [b]"],
    ['gives a record another kind', "UPDATE audit SET kind = 'user.added' WHERE seq = 2", 'audit record 2 (table audit of the store)', "the filters' index gives it kind user.added and job none, its text kind participant.registered and job none"],
    ['names a record past the log\'s end', "INSERT INTO audit_participants (participant, seq) VALUES ('a', 9)", 'participant a of record 9 (table audit_participants of the store)', 'the log has no such record'],
    ['names participants for a record not indexed', 'UPDATE audit SET kind = NULL WHERE seq = 4', 'audit record 4 (table audit of the store)', "it is not indexed, yet the filters' index names c for it"],
  ])('fails where the filters\' index %s', async (_, tamper, where, reason) => {
    // Prepare: the index changed behind the log's back, the records as they were
    const { file, store } = await setup();
    const other = new Database(file);
    other.exec(tamper);
    other.close();
    // Execute, Assert
    expect((await verifyStore(store)).failure).toEqual({ where, reason });
    await store.close();
  });

  it('counts the records not indexed yet, which no filtered page has read', async () => {
    const { file, store } = await setup();
    const other = new Database(file);
    other.exec('UPDATE audit SET kind = NULL WHERE seq = 4; DELETE FROM audit_participants WHERE seq = 4');
    other.close();
    expect((await verifyStore(store)).lines.at(-1)).toBe("store tables: 3 participants, 0 jobs, 0 rounds and the filters' index of 3 records (1 not indexed yet) agree with the log");
    await store.close();
  });

  it('names an inconsistency in the store as verifyStore does', async () => {
    // Prepare: a participant's status changed behind the log's back
    const { file, store, warnings, verifier } = await setup();
    const other = new Database(file);
    other.prepare("UPDATE participants SET status = 'revoked' WHERE name = 'b'").run();
    other.close();
    // Execute
    const report = await verifier().verify();
    // Assert
    expect(warnings).toEqual([]);
    expect(report.ok).toBe(false);
    expect(report.failure).toEqual({ where: 'participant b (table participants of the store)', reason: 'it is revoked, the audit log says approved' });
    expect(report.failure).toEqual((await verifyStore(store)).failure);
    await store.close();
  });

  it('reads one snapshot: a participant added while the log is verified is not in the tables it checks', async () => {
    // Prepare: a read-only connection, as the thread's, and the writer going on
    const { file, store, register } = await setup();
    const reader = await SqliteStore.open(file, { readonly: true });
    let added: Promise<void> | undefined;
    // Execute: the writer commits between the log's verification and the tables'
    const report = await verifyStore(reader, 'the store', {
      onLine: (line) => {
        if (line.startsWith('chain:') && !added) added = register('d');
      },
    });
    // Assert
    await added;
    expect(added).toBeDefined();
    expect(report.failure).toBeUndefined();
    expect(report.lines.at(-1)).toBe("store tables: 3 participants, 0 jobs, 0 rounds and the filters' index of 4 records agree with the log");
    expect((await verifyStore(reader)).lines.at(-1)).toBe("store tables: 4 participants, 0 jobs, 0 rounds and the filters' index of 5 records agree with the log");
    await reader.close();
    await store.close();
  });

  it('runs one verification at a time: those asked for meanwhile share the next, which sees what came before them', async () => {
    // Prepare
    const { store, register, verifier: make } = await setup();
    const verifier = make();
    // Execute
    const first = verifier.verify();
    await register('d');
    const second = verifier.verify();
    const third = verifier.verify();
    // Assert
    expect(third).toBe(second);
    expect(second).not.toBe(first);
    const reports = await Promise.all([first, second, third]);
    expect(reports.every((r) => r.ok)).toBe(true);
    expect(reports[1].counts.participants).toBe(4);
    await store.close();
  });

  it('verifies on the event loop, with a warning, when the thread cannot open the store', async () => {
    // Prepare
    const { dir, store, warnings, verifier, anchors } = await setup();
    // Execute
    const report = await verifier(path.join(dir, 'no-such-store.sqlite')).verify();
    // Assert
    expect(report.ok).toBe(true);
    expect(report.lines).toEqual((await verifyStore(store, undefined, { anchorsFile: anchors })).lines);
    expect(warnings).toEqual([expect.stringMatching(/^audit verification on the event loop \(the verification thread did not answer: it failed: /)]);
    await store.close();
  });

  it('fails a verification under way when stopped, and refuses new ones', async () => {
    // Prepare
    const { store, verifier: make } = await setup();
    const verifier = make();
    // Execute
    const underway = verifier.verify();
    await verifier.stop();
    // Assert
    await expect(underway).rejects.toThrow(FlError);
    await expect(verifier.verify()).rejects.toMatchObject({ code: 'INTERNAL' });
    await store.close();
  });
});
