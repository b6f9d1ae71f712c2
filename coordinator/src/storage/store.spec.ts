/**
 * The repository contract: the same cases against SQLite (a temporary file) and
 * PostgreSQL (a database made for the run on 127.0.0.1:5432, dropped after).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import { Client, Pool } from 'pg';
import type { JobSpec, Preprocessing } from '@fl/shared';
import { migrationProvider, type Dialect, type Tables } from './schema';
import { SqliteStore } from './store.sqlite';
import { PostgresStore } from './store.postgres';
import { toArray, type AuditFilter, type RoundRecord, type Store } from './store';

// Generous: thousands of statements to PostgreSQL take seconds on a loaded machine.
jest.setTimeout(60_000);

const ADMIN_URL = process.env.FL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A fresh database for each suite, dropped when it ends. */
async function freshPostgres(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `fl_store_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new Client({ connectionString: ADMIN_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

const tempFile = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fl-store-')), 'store.sqlite');

interface Backend {
  name: string;
  /** opens a new, empty store */
  open: () => Promise<Store>;
  /**
   * A second writer of the store `open` made last: another connection pool on
   * PostgreSQL, as another replica would have; the same store on SQLite, which
   * has one writer (its transactions queue on its one connection).
   */
  second: (first: Store) => Promise<Store>;
  /** a new, empty database, without the store's tables, and how to open the store on it */
  empty: () => Promise<{ db: Kysely<Tables>; dialect: Dialect; open: () => Promise<Store> }>;
  cleanup: () => Promise<void>;
}

function sqlite(): Backend {
  return {
    name: 'SQLite',
    open: () => SqliteStore.open(tempFile()),
    second: async (first) => first,
    empty: async () => {
      const file = tempFile();
      return { db: new Kysely<Tables>({ dialect: new SqliteDialect({ database: new Database(file) }) }), dialect: 'sqlite', open: () => SqliteStore.open(file) };
    },
    cleanup: async () => undefined,
  };
}

function postgres(): Backend {
  let database: { url: string; drop: () => Promise<void> } | undefined;
  // One database for the run; each case starts from an empty schema.
  const emptied = async () => {
    database ??= await freshPostgres();
    const client = new Client({ connectionString: database.url });
    await client.connect();
    await client.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
    await client.end();
    return database.url;
  };
  return {
    name: 'PostgreSQL',
    open: async () => PostgresStore.open(await emptied()),
    second: () => PostgresStore.open(database!.url),
    empty: async () => {
      const url = await emptied();
      return { db: new Kysely<Tables>({ dialect: new PostgresDialect({ pool: new Pool({ connectionString: url }) }) }), dialect: 'postgres', open: () => PostgresStore.open(url) };
    },
    cleanup: async () => database?.drop(),
  };
}

const preprocessing: Preprocessing = { features: [{ name: 'x', type: 'numeric', mean: 0, std: 1 }], target: { type: 'numeric', mean: 0, std: 1 }, inputDim: 1, rows: 4 };
const round = (n: number, job = 'j1'): RoundRecord => ({
  job,
  round: n,
  startedAt: 1,
  closedAt: 2,
  selected: ['a'],
  contributors: [{ participant: 'a', numSamples: 4 }],
  failures: [],
  metrics: { trainLoss: 0.5 },
  attempts: 1,
  modelSha256: 'f'.repeat(64),
  evaluation: null,
});
const model = (n: number, job = 'j1') => ({ job, round: n, sha256: 'f'.repeat(64), weights: new Float32Array([n, n + 0.5]), createdAt: 3 });
const participant = (name: string, publicKey: string) => ({
  name,
  organisation: name.toUpperCase(),
  publicKey,
  country: 'CH',
  status: 'approved' as const,
  invitation: null,
  decidedAt: null,
  decidedBy: null,
  createdAt: 1,
});
const job = (id: string) => ({
  id,
  spec: { model: 'linear' } as JobSpec,
  status: 'waiting' as const,
  preprocessing: null,
  round: 0,
  error: null,
  admission: { reportedRows: {}, excluded: [] },
  createdAt: 1,
  updatedAt: 1,
});
const invitation = (id: string) => ({
  id,
  tokenDigest: `digest-${id}`,
  organisation: 'Org',
  country: 'FR',
  name: null,
  expiresAt: 10_000_000_000_000,
  createdAt: 1_700_000_000_000,
  createdBy: 'user:admin',
  cancelledAt: null,
  usedAt: null,
  usedBy: null,
});
/** A record's text as the audit log stores it: JSON with its hash. */
const record = (seq: number) => JSON.stringify({ seq, hash: `h${seq}` });
/** A record as the log writes it, with what it is filtered by (the store neither checks its hash nor its signature). */
const act = (seq: number, kind: string, actor: string, data: Record<string, unknown>) => ({ seq, text: JSON.stringify({ seq, kind, actor, data, hash: `h${seq}` }) });
/** Two participants, a and b, in two jobs; and a user also named a, whom the participant filter does not take for the participant. */
const ACTS = [
  act(1, 'participant.registered', 'user:ada', { name: 'a', organisation: 'A' }),
  act(2, 'participant.registered', 'user:ada', { name: 'b', organisation: 'B' }),
  act(3, 'job.created', 'user:ada', { job: 'j1', spec: {} }),
  act(4, 'update.accepted', 'participant:a', { job: 'j1', round: 1, participant: 'a' }),
  act(5, 'update.accepted', 'participant:b', { job: 'j1', round: 1, participant: 'b' }),
  act(6, 'model.committed', 'coordinator', { job: 'j1', round: 1, contributors: [{ participant: 'a' }, { participant: 'b' }] }),
  act(7, 'job.created', 'user:ada', { job: 'j2', spec: {} }),
  act(8, 'update.excluded', 'participant:a', { job: 'j2', round: 1, participant: 'a', code: 'IMPLAUSIBLE_WEIGHTS' }),
  act(9, 'model.committed', 'coordinator', { job: 'j2', round: 1, contributors: [], revoked: ['b'] }),
  act(10, 'participant.revoked', 'user:ada', { name: 'a', reason: '' }),
  act(11, 'user.added', 'user:ada', { name: 'a', role: 'viewer' }),
];

describe.each([sqlite(), postgres()])('the store on $name', (backend) => {
  let store: Store;

  beforeEach(async () => {
    store = await backend.open();
    await store.addJob(job('j1'));
    await store.beginTraining('j1', preprocessing, { reportedRows: { a: 3 }, excluded: [{ participant: 'b', reason: 'feature 0: implausible', code: 'IMPLAUSIBLE_STATISTICS' }] }, model(0));
  });
  afterEach(() => store.close());
  afterAll(() => backend.cleanup(), 30_000);

  it('keeps participants: added, read by name and key, listed, refused twice, their status changed', async () => {
    await store.addParticipant(participant('b', 'k2'));
    await store.addParticipant(participant('a', 'k1'));
    expect(await store.getParticipant('a')).toEqual(participant('a', 'k1'));
    expect(await store.getParticipantByKey('k2')).toEqual(participant('b', 'k2'));
    expect(await store.getParticipant('c')).toBeUndefined();
    expect((await store.listParticipants()).map((p) => p.name)).toEqual(['a', 'b']);
    await expect(store.addParticipant(participant('a', 'k3'))).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(store.addParticipant(participant('c', 'k1'))).rejects.toMatchObject({ code: 'CONFLICT' });
    await store.setParticipantStatus('a', 'revoked', 'user:admin', 5);
    expect(await store.getParticipant('a')).toMatchObject({ status: 'revoked', decidedBy: 'user:admin', decidedAt: 5 });
    await expect(store.setParticipantStatus('nobody', 'revoked', 'user:admin', 5)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('answers a participant as stored last, a rolled-back status change included', async () => {
    await store.addParticipant(participant('a', 'k1'));
    expect((await store.getParticipant('a'))?.status).toBe('approved');
    await expect(
      store.transaction(async () => {
        await store.setParticipantStatus('a', 'revoked', 'user:admin', 6);
        expect((await store.getParticipant('a'))?.status).toBe('revoked');
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect((await store.getParticipant('a'))?.status).toBe('approved');
  });

  it('names the participants not approved among many more than one statement may bind, registered or not', async () => {
    await store.addParticipant(participant('a', 'k1'));
    await store.addParticipant(participant('b', 'k2'));
    await store.addParticipant(participant('c', 'k3'));
    await store.setParticipantStatus('b', 'revoked', 'user:admin', 5);
    const unknown = Array.from({ length: 70_000 }, (_, i) => `x${i}`);
    const names = ['a', ...unknown.slice(0, 35_000), 'b', 'c', ...unknown.slice(35_000)];
    expect(await store.unapprovedParticipants(names)).toEqual([...unknown.slice(0, 35_000), 'b', ...unknown.slice(35_000)]);
    expect(await store.unapprovedParticipants([])).toEqual([]);
  });

  it('keeps invitations, and closes one only once', async () => {
    await store.addInvitation(invitation('i1'));
    await store.addInvitation(invitation('i2'));
    expect(await store.getInvitation('i1')).toEqual(invitation('i1'));
    expect(await store.getInvitationByDigest('digest-i2')).toEqual(invitation('i2'));
    expect((await store.listInvitations()).map((i) => i.id)).toEqual(['i1', 'i2']);
    await store.closeInvitation('i1', { usedBy: 'a', at: 7 });
    await expect(store.closeInvitation('i1', { cancelledAt: 8 })).rejects.toMatchObject({ code: 'CONFLICT' });
    await store.closeInvitation('i2', { cancelledAt: 9 });
    expect(await store.getInvitation('i1')).toMatchObject({ usedBy: 'a', usedAt: 7, cancelledAt: null });
    expect(await store.getInvitation('i2')).toMatchObject({ cancelledAt: 9, usedAt: null });
  });

  it('keeps users and their tokens; removing a user removes its tokens; expired sessions are pruned', async () => {
    await store.addUser({ name: 'ada', role: 'admin', passwordHash: 'scrypt$x', createdAt: 1 });
    await expect(store.addUser({ name: 'ada', role: 'viewer', passwordHash: 'scrypt$y', createdAt: 2 })).rejects.toMatchObject({ code: 'CONFLICT' });
    await store.addUser({ name: 'bob', role: 'viewer', passwordHash: 'scrypt$z', createdAt: 2 });
    expect(await store.getUser('ada')).toEqual({ name: 'ada', role: 'admin', passwordHash: 'scrypt$x', createdAt: 1 });
    expect((await store.listUsers()).map((u) => u.name)).toEqual(['ada', 'bob']);
    const token = { id: 't1', user: 'ada', kind: 'api' as const, label: 'ci', digest: 'd1', createdAt: 3, expiresAt: null };
    await store.addToken(token);
    await store.addToken({ ...token, id: 't2', kind: 'session', digest: 'd2', expiresAt: 100 });
    await store.addToken({ ...token, id: 't3', user: 'bob', digest: 'd3' });
    expect(await store.getTokenByDigest('d1')).toEqual(token);
    expect((await store.listTokens('api')).map((t) => t.id)).toEqual(['t1', 't3']);
    await store.pruneTokens(100);
    expect(await store.getTokenByDigest('d2')).toBeUndefined();
    await store.removeToken('t3');
    await expect(store.removeToken('t3')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await store.removeUser('ada');
    expect(await store.getTokenByDigest('d1')).toBeUndefined();
    await expect(store.removeUser('ada')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('keeps who the statistics phase admitted and left out, and each round failure\'s code', async () => {
    expect((await store.getJob('j1'))!.admission).toEqual({
      reportedRows: { a: 3 },
      excluded: [{ participant: 'b', reason: 'feature 0: implausible', code: 'IMPLAUSIBLE_STATISTICS' }],
    });
    const failures = [{ participant: 'b', reason: 'weight 3 is NaN', code: 'NON_FINITE' }, { participant: 'c', reason: 'disconnected' }];
    await store.commitRound({ ...round(1), failures }, model(1));
    expect((await store.getRound('j1', 1))!.failures).toEqual(failures);
  });

  it('updates a job\'s status and error, and lists jobs in the order they were made', async () => {
    await store.addJob({ ...job('j2'), createdAt: 2 });
    await store.updateJob('j2', { status: 'failed', error: 'boom' });
    expect(await store.getJob('j2')).toMatchObject({ status: 'failed', error: 'boom' });
    await store.updateJob('j2', { status: 'stopped' });
    expect(await store.getJob('j2')).toMatchObject({ status: 'stopped', error: 'boom' });
    expect((await store.listJobs()).map((j) => j.id)).toEqual(['j1', 'j2']);
    await expect(store.updateJob('nothing', { status: 'stopped' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('commits a round with its model and strategy state and moves the job on, in one transaction', async () => {
    const state = { sha256: 'e'.repeat(64), bytes: new Uint8Array([0, 1, 2, 255]) };
    await store.commitRound(round(1), model(1), state);
    expect(await store.getJob('j1')).toMatchObject({ status: 'training', round: 1, preprocessing });
    expect(await store.listRounds('j1')).toEqual([round(1)]);
    expect(Array.from((await store.getModel('j1'))!.weights)).toEqual([1, 1.5]);
    expect(Array.from((await store.getModel('j1', 0))!.weights)).toEqual([0, 0.5]);
    expect(Buffer.from((await store.getModelBytes('j1', 1))!)).toEqual(Buffer.from(new Float32Array([1, 1.5]).buffer));
    expect(await store.getStrategyState('j1')).toEqual({ round: 1, ...state });
    expect(await store.getStrategyStateBytes('j1', 1)).toEqual(state.bytes);
    expect(await store.getStrategyStateBytes('j1', 2)).toBeUndefined();
  });

  it('keeps a million weights bit for bit', async () => {
    const weights = new Float32Array(1_000_000).map((_, i) => Math.sin(i) * 1e-3);
    await store.commitRound(round(1), { ...model(1), weights });
    // Compared as bytes in one call: a deep equality of 4 MB element by element takes a minute.
    expect(Buffer.from((await store.getModel('j1'))!.weights.buffer).equals(Buffer.from(weights.buffer))).toBe(true);
  });

  it('adds the federated evaluation to a committed round', async () => {
    await store.commitRound(round(1), model(1));
    const evaluation = { metrics: { accuracy: 0.9 }, numExamples: 20, participants: ['a', 'b'] };
    await store.setRoundEvaluation('j1', 1, evaluation);
    expect((await store.listRounds('j1'))[0].evaluation).toEqual(evaluation);
    expect(await store.getRound('j1', 1)).toEqual({ ...round(1), evaluation });
    expect(await store.getRound('j1', 2)).toBeUndefined();
  });

  it('counts the committed rounds each participant contributed to, over all jobs', async () => {
    await store.commitRound(round(1), model(1));
    await store.commitRound({ ...round(2), contributors: [{ participant: 'a', numSamples: 4 }, { participant: 'b', numSamples: 2 }] }, model(2));
    await store.addJob({ ...job('j2'), status: 'training' });
    await store.commitRound({ ...round(1, 'j2'), contributors: [{ participant: 'b', numSamples: 1 }] }, model(1, 'j2'));
    expect(await store.contributionCounts()).toEqual(new Map([['a', 2], ['b', 2]]));
  });

  it('never counts a round twice nor skips one, and leaves nothing behind when refusing', async () => {
    await store.commitRound(round(1), model(1));
    await expect(store.commitRound(round(1), model(1))).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(store.commitRound(round(3), model(3))).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await store.listRounds('j1')).map((r) => r.round)).toEqual([1]);
    expect(await store.getModel('j1', 3)).toBeUndefined();
  });

  it('lets one of two concurrent commits of the same round through', async () => {
    const second = await backend.second(store);
    try {
      const outcomes = await Promise.allSettled([store.commitRound(round(1), model(1)), second.commitRound(round(1), model(1))]);
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      expect((await store.listRounds('j1')).map((r) => r.round)).toEqual([1]);
    } finally {
      if (second !== store) await second.close();
    }
  });

  it('keeps retained updates until pruned, replacing the same one', async () => {
    const update = (round: number, bytes: number[]) => ({ job: 'j1', round, participant: 'a', sha256: 's', weights: new Uint8Array(bytes) });
    await store.retainUpdate(update(1, [1, 2]));
    await store.retainUpdate(update(1, [3, 4]));
    await store.retainUpdate(update(2, [5]));
    expect(await store.getRetainedUpdate('j1', 1, 'a', 's')).toEqual(new Uint8Array([3, 4]));
    await store.pruneUpdates('j1', 1);
    expect(await store.getRetainedUpdate('j1', 1, 'a', 's')).toBeUndefined();
    expect(await store.getRetainedUpdate('j1', 2, 'a', 's')).toEqual(new Uint8Array([5]));
  });

  it('retains many updates in batches, as one by one: the last of a repeated key wins', async () => {
    const update = (i: number, byte: number) => ({ job: 'j1', round: 1, participant: `p${i}`, sha256: 's', weights: new Uint8Array([byte, i & 255]) });
    const many = Array.from({ length: 1201 }, (_, i) => update(i, 1));
    await store.retainUpdates([...many, update(7, 2)]);
    expect(await store.getRetainedUpdate('j1', 1, 'p1200', 's')).toEqual(new Uint8Array([1, 1200 & 255]));
    expect(await store.getRetainedUpdate('j1', 1, 'p7', 's')).toEqual(new Uint8Array([2, 7]));
    await store.retainUpdates([update(8, 3)]);
    expect(await store.getRetainedUpdate('j1', 1, 'p8', 's')).toEqual(new Uint8Array([3, 8]));
  });

  it('appends audit records in batches, all or none: a seq taken in the last batch leaves none of the others', async () => {
    await store.appendAudit(1300, record(1300));
    const batch = Array.from({ length: 1300 }, (_, i) => ({ seq: i + 1, text: record(i + 1) }));
    await expect(store.appendAuditRecords(batch)).rejects.toMatchObject({ code: 'CONFLICT', message: 'one of audit records 1001..1300 exists already' });
    expect((await toArray(store.auditRecords())).map((r) => r.seq)).toEqual([1300]);
    await store.appendAuditRecords(batch.slice(0, 1299));
    expect((await toArray(store.auditRecords())).map((r) => r.text)).toEqual([...batch.map((r) => r.text)]);
  });

  it('appends audit records in order, refuses a seq taken, and reads them after a seq, page by page', async () => {
    expect(await store.auditHead()).toBeUndefined();
    await store.transaction(async () => {
      for (let seq = 1; seq <= 2500; seq++) await store.appendAudit(seq, record(seq));
    });
    await expect(store.appendAudit(2500, record(2500))).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await store.auditHead()).toEqual({ seq: 2500, hash: 'h2500' });
    const all = await toArray(store.auditRecords());
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 2500 }, (_, i) => i + 1));
    expect((await toArray(store.auditRecords(1200, 3))).map((r) => r.text)).toEqual([record(1201), record(1202), record(1203)]);
    expect(await toArray(store.auditRecords(2500))).toEqual([]);
  });

  it('filters the audit log by kind, job and participant, a page at a time either way', async () => {
    await store.appendAuditRecords(ACTS.slice(0, 10));
    await store.appendAudit(11, ACTS[10].text);
    const seqs = async (filter: AuditFilter, page: { after?: number; before?: number; limit?: number } = {}) => {
      const { records, more } = await store.auditPage(filter, { after: 0, limit: 100, ...page });
      return { seqs: records.map((r) => r.seq), more };
    };
    const all = async (filter: AuditFilter) => (await seqs(filter)).seqs;

    expect(await all({ participant: 'a' })).toEqual([1, 4, 6, 8, 10]);
    expect(await all({ participant: 'b' })).toEqual([2, 5, 6, 9]);
    expect(await all({ job: 'j1' })).toEqual([3, 4, 5, 6]);
    expect(await all({ kinds: ['model.committed'] })).toEqual([6, 9]);
    expect(await all({ kinds: ['update.accepted', 'update.excluded'], participant: 'a' })).toEqual([4, 8]);
    expect(await all({ job: 'j2', participant: 'a' })).toEqual([8]);
    expect(await all({ job: 'j3' })).toEqual([]);
    expect(await all({})).toEqual(ACTS.map((a) => a.seq));
    // The texts as written, byte for byte.
    expect((await store.auditPage({ job: 'j1' }, { after: 0, limit: 100 })).records).toEqual(ACTS.slice(2, 6));

    // Back from the newest, as the dashboard reads: each page oldest first, `more` while older ones match.
    expect(await seqs({ participant: 'a' }, { before: 12, limit: 2 })).toEqual({ seqs: [8, 10], more: true });
    expect(await seqs({ participant: 'a' }, { before: 8, limit: 2 })).toEqual({ seqs: [4, 6], more: true });
    expect(await seqs({ participant: 'a' }, { before: 4, limit: 2 })).toEqual({ seqs: [1], more: false });
    expect(await seqs({}, { before: 12, limit: 3 })).toEqual({ seqs: [9, 10, 11], more: true });
    // Forward from a record, as a script reads.
    expect(await seqs({ participant: 'a' }, { after: 0, limit: 2 })).toEqual({ seqs: [1, 4], more: true });
    expect(await seqs({ participant: 'a' }, { after: 4, limit: 2 })).toEqual({ seqs: [6, 8], more: true });
    expect(await seqs({ participant: 'a' }, { after: 8, limit: 2 })).toEqual({ seqs: [10], more: false });
    expect(await seqs({ participant: 'a' }, { after: 4, before: 10, limit: 2 })).toEqual({ seqs: [6, 8], more: false });
  });

  it('indexes the records an earlier release wrote: those from before the index at its start, and those written during a rolling upgrade', async () => {
    // Prepare: a database as the release before the index left it, with records
    const { db, dialect, open } = await backend.empty();
    const migrator = new Migrator({ db, provider: migrationProvider(dialect) });
    expect((await migrator.migrateTo('0002_job_leadership')).error).toBeUndefined();
    const earlier = (rows: { seq: number; text: string }[]) => db.insertInto('audit').values(rows.map(({ seq, text }) => ({ seq, record: text }) as never)).execute();
    await earlier(ACTS.slice(0, 6));
    // Execute: the store opens on it (its migrations run, and it indexes); then a replica of the earlier release writes on
    const migrated = await open();
    try {
      expect((await migrated.auditPage({ participant: 'b' }, { after: 0, limit: 100 })).records.map((r) => r.seq)).toEqual([2, 5, 6]);
      await earlier(ACTS.slice(6, 9));
      await migrated.indexAudit();
      // Assert: every record is found by its filters, its text unchanged
      expect((await migrated.auditPage({ participant: 'b' }, { after: 0, limit: 100 })).records.map((r) => r.seq)).toEqual([2, 5, 6, 9]);
      expect((await migrated.auditPage({ job: 'j2' }, { after: 0, limit: 100 })).records).toEqual(ACTS.slice(6, 9));
      expect(await toArray(migrated.auditRecords())).toEqual(ACTS.slice(0, 9));
    } finally {
      await migrated.close();
      await db.destroy();
    }
  });

  it('rolls back everything a transaction wrote when it fails, and joins nested transactions', async () => {
    await expect(
      store.transaction(async () => {
        await store.addUser({ name: 'ada', role: 'admin', passwordHash: 'x', createdAt: 1 });
        await store.transaction(async () => {
          await store.appendAudit(1, record(1));
          await store.commitRound(round(1), model(1));
        });
        throw new Error('fails after the nested one');
      }),
    ).rejects.toThrow('fails after the nested one');
    expect(await store.getUser('ada')).toBeUndefined();
    expect(await store.auditHead()).toBeUndefined();
    expect((await store.getJob('j1'))!.round).toBe(0);
    expect(await store.getModel('j1', 1)).toBeUndefined();
    const result = await store.transaction(async () => {
      await store.appendAudit(1, record(1));
      return store.transaction(async () => (await store.auditHead())!.seq);
    });
    expect(result).toBe(1);
  });

  it('runs what waits for a commit after the outermost commit, outside the transaction, and never after a rollback', async () => {
    const told: string[] = [];
    store.afterCommit(() => told.push('now'));
    await store.transaction(async () => {
      await store.transaction(async () => {
        await store.appendAudit(1, record(1));
        store.afterCommit(() => told.push('nested'));
      });
      expect(told).toEqual(['now']);
    });
    expect(told).toEqual(['now', 'nested']);
    await expect(
      store.transaction(async () => {
        store.afterCommit(() => told.push('rolled back'));
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    let head: Promise<unknown> | undefined;
    await store.transaction(async () => {
      await store.appendAudit(2, record(2));
      // Told after the commit: a read there is not part of the transaction, and sees what it committed.
      store.afterCommit(() => (head = store.auditHead()));
    });
    expect(told).toEqual(['now', 'nested']);
    expect(await head).toEqual({ seq: 2, hash: 'h2' });
  });

  it('runs what waits for a rollback when the outermost transaction rolls back, the latest first, and never after a commit', async () => {
    const told: string[] = [];
    store.afterRollback(() => told.push('outside'));
    await store.transaction(async () => {
      await store.appendAudit(1, record(1));
      store.afterRollback(() => told.push('committed'));
    });
    await expect(
      store.transaction(async () => {
        await store.transaction(async () => {
          await store.appendAudit(2, record(2));
          store.afterRollback(() => told.push('first'));
        });
        store.afterRollback(() => told.push('second'));
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(told).toEqual(['second', 'first']);
  });

  it('keeps the audit log gapless and in order under concurrent appends from two connections', async () => {
    const second = await backend.second(store);
    // Each writer appends after the head it reads in its transaction, as the audit log does.
    const append = (on: Store, writer: string) =>
      on.transaction(async () => {
        const head = await on.auditHead();
        const seq = (head?.seq ?? 0) + 1;
        await on.appendAudit(seq, JSON.stringify({ seq, hash: `${writer}${seq}`, prev: head?.hash ?? null }));
      });
    try {
      await Promise.all(Array.from({ length: 40 }, (_, i) => append(i % 2 ? second : store, i % 2 ? 'b' : 'a')));
      const all = (await toArray(store.auditRecords())).map((r) => JSON.parse(r.text) as { seq: number; hash: string; prev: string | null });
      expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      // Each record follows the one before it: no two writers took the same head.
      for (let i = 1; i < all.length; i++) expect(all[i].prev).toBe(all[i - 1].hash);
    } finally {
      if (second !== store) await second.close();
    }
  });
});

describe('the SQLite store of an older data directory', () => {
  it('adopts a file made before versioned migrations, rows and all', async () => {
    // Prepare: the first release's tables, without the columns added since, and a row in them
    const file = tempFile();
    const db = new Database(file);
    db.exec(`CREATE TABLE participants (name TEXT PRIMARY KEY, organisation TEXT NOT NULL, public_key TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);
      CREATE TABLE jobs (id TEXT PRIMARY KEY, spec TEXT NOT NULL, status TEXT NOT NULL, preprocessing TEXT, round INTEGER NOT NULL, error TEXT,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
      INSERT INTO participants VALUES ('a', 'A', 'k1', 1);
      INSERT INTO jobs VALUES ('j0', '{}', 'waiting', NULL, 0, NULL, 1, 1);`);
    db.close();
    // Execute
    const store = await SqliteStore.open(file);
    // Assert: the rows are there, with the defaults of the columns added since
    expect(await store.getParticipant('a')).toMatchObject({ publicKey: 'k1', status: 'approved', country: '' });
    expect((await store.getJob('j0'))!.admission).toEqual({ reportedRows: {}, excluded: [] });
    await store.close();
    // and a second start applies nothing again
    const again = await SqliteStore.open(file);
    expect((await again.listParticipants()).length).toBe(1);
    await again.close();
  });
});
