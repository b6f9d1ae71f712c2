/**
 * Epoch fencing of a job's writes, on the real PostgreSQL at 127.0.0.1:5432 (a
 * database made for the run, dropped after): two replicas' elections and
 * stores on one database; the first leader is deposed (its lock connection
 * ended, as when its host vanishes) without its run knowing, and every write
 * it then makes for the job is refused with LeadershipLost, leaving nothing of
 * itself, while the new leader's writes commit. On SQLite (one process) the
 * store does not check, and the same writes go through.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import type { JobSpec, Preprocessing } from '@fl/shared';
import { AuditLog } from '../audit/audit-log';
import { CoordinatorIdentity } from '../identity/identity';
import { PostgresStore } from '../storage/store.postgres';
import { SqliteStore } from '../storage/store.sqlite';
import { toArray, type Fence, type JobRecord, type RoundRecord, type Store } from '../storage/store';
import { LeadershipLost, PgLeaderElection, type Leadership } from './leader-election';

jest.setTimeout(60_000);

const ADMIN_URL = process.env.FL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const JOB = 'job-fenced';

const preprocessing: Preprocessing = { features: [{ name: 'x', type: 'numeric', mean: 0, std: 1 }], target: { type: 'numeric', mean: 0, std: 1 }, inputDim: 1, rows: 4 };
const job: JobRecord = {
  id: JOB,
  spec: { model: 'linear' } as JobSpec,
  status: 'training',
  preprocessing: null,
  round: 0,
  error: null,
  admission: { reportedRows: {}, excluded: [] },
  createdAt: 1,
  updatedAt: 1,
};
const round = (n: number): RoundRecord => ({
  job: JOB,
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
const model = (n: number) => ({ job: JOB, round: n, sha256: 'f'.repeat(64), weights: new Float32Array([n, n + 0.5]), createdAt: 3 });

/** What a job run commits for a round (JobRun.commit): the round, its model and state, a retained update and its audit record, in one transaction. */
async function commitRound(store: Store, audit: AuditLog, n: number): Promise<void> {
  await store.transaction(async () => {
    await store.commitRound(round(n), model(n), { sha256: 'e'.repeat(64), bytes: new Uint8Array([n]) });
    await store.retainUpdate({ job: JOB, round: n, participant: 'a', sha256: 'd'.repeat(64), weights: new Uint8Array([1, 2, 3]) });
    await audit.append('updates.pruned', 'coordinator', { job: JOB, throughRound: n });
  });
}

/** Everything a job's writes can change, to compare before and after a refused write. */
async function snapshot(store: Store) {
  const stored = (await store.getJob(JOB))!;
  return {
    job: { status: stored.status, error: stored.error, round: stored.round },
    rounds: (await store.listRounds(JOB)).map((r) => [r.round, r.evaluation]),
    model: (await store.getModel(JOB))?.round,
    audit: (await toArray(store.auditRecords())).length,
    retained: [1, 2, 3].map((n) => store.getRetainedUpdate(JOB, n, 'a', 'd'.repeat(64))),
  };
}
const settled = async (s: Awaited<ReturnType<typeof snapshot>>) => ({ ...s, retained: (await Promise.all(s.retained)).map((u) => u !== undefined) });

describe('the writes of a job on PostgreSQL, fenced by its leader\'s epoch', () => {
  const database = `fl_fence_${randomBytes(6).toString('hex')}`;
  const url = (() => {
    const u = new URL(ADMIN_URL);
    u.pathname = `/${database}`;
    return u.toString();
  })();
  const identity = CoordinatorIdentity.fromDataDir(fs.mkdtempSync(path.join(os.tmpdir(), 'fl-fence-')));
  let first: { store: Store; audit: AuditLog; election: PgLeaderElection; lease: Leadership };
  let second: { store: Store; audit: AuditLog; election: PgLeaderElection };
  let admin: Client;

  beforeAll(async () => {
    admin = new Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    const replica = async (name: string) => {
      const store = await PostgresStore.open(url);
      // The table the election writes is the store's own, made by its migration.
      return { store, audit: await AuditLog.open(store, identity), election: new PgLeaderElection({ connection: url, replica: name }) };
    };
    const one = await replica('replica-1');
    await one.store.addJob(job);
    // The log records an update only from an approved participant.
    for (const name of ['a', 'b']) {
      await one.store.addParticipant({ name, organisation: name, country: '', publicKey: `key-${name}`, status: 'approved', invitation: null, decidedAt: 0, decidedBy: 'x', createdAt: 0 });
    }
    first = { ...one, lease: (await one.election.tryLead(JOB))! };
    second = await replica('replica-2');
  });

  afterAll(async () => {
    for (const r of [first, second]) {
      await r?.election.close();
      await r?.store.close();
    }
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  });

  let deposed: Fence;
  let current: Fence;

  it('lets the leader commit a round, and makes the epochs table with the store\'s migrations', async () => {
    const client = new Client({ connectionString: url });
    await client.connect();
    const migrations = await client.query<{ name: string }>('SELECT name FROM kysely_migration ORDER BY name');
    const leaders = await client.query<{ job: string; epoch: number; leader: string }>('SELECT job, epoch::int AS epoch, leader FROM job_leadership');
    await client.end();
    expect(migrations.rows.map((r) => r.name)).toEqual(['0001_initial', '0002_job_leadership', '0003_audit_index', '0004_audit_participants_by_record']);
    expect(leaders.rows).toEqual([{ job: JOB, epoch: first.lease.epoch, leader: 'replica-1' }]);
    deposed = { job: JOB, epoch: first.lease.epoch };
    await first.store.fenced(deposed, () => commitRound(first.store, first.audit, 1));
    expect(await settled(await snapshot(first.store))).toMatchObject({ job: { round: 1 }, rounds: [[1, null]], model: 1, retained: [true, false, false] });
  });

  it('gives the job to another replica at the next epoch once the leader\'s connection is gone', async () => {
    const lost = new Promise<void>((resolve) => first.lease.onLost(resolve));
    await admin.query('SELECT pg_terminate_backend($1)', [await first.election.backendPid()]);
    await lost;
    let lease: Leadership | null = null;
    for (let attempt = 0; attempt < 200 && !lease; attempt++) {
      lease = await second.election.tryLead(JOB);
      if (!lease) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(lease).toMatchObject({ epoch: deposed.epoch + 1 });
    current = { job: JOB, epoch: lease!.epoch };
  });

  describe('refuses every write of the deposed leader, leaving nothing of it', () => {
    let before: Awaited<ReturnType<typeof settled>>;
    beforeEach(async () => {
      before = await settled(await snapshot(first.store));
    });
    afterEach(async () => {
      expect(await settled(await snapshot(first.store))).toEqual(before);
    });
    const asDeposed = <T>(fn: () => Promise<T>) => first.store.fenced(deposed, fn);

    it('a round commit, with its retained update and audit record', async () => {
      await expect(asDeposed(() => commitRound(first.store, first.audit, 2))).rejects.toThrow(LeadershipLost);
    });

    it('a status change (a single write, outside any transaction)', async () => {
      await expect(asDeposed(() => first.store.updateJob(JOB, { status: 'failed', error: 'boom' }))).rejects.toThrow(LeadershipLost);
    });

    it("an audit record of the job's", async () => {
      await expect(asDeposed(() => first.audit.append('job.control', 'token:admin', { job: JOB, action: 'pause' }))).rejects.toThrow(LeadershipLost);
    });

    it('the deferred records of a round, flushed, with the updates they retain', async () => {
      const header = { type: 'update', job: JOB, round: 2, participant: 'a' } as never;
      const retain = { job: JOB, round: 2, participant: 'a', sha256: 'd'.repeat(64), weights: new Uint8Array([9]) };
      const run = first.audit.forRun(JOB, deposed);
      run.defer('update.accepted', 'participant:a', { job: JOB, round: 2, participant: 'a', sha256: 'd'.repeat(64), numSamples: 4, header, signature: 'x', retained: true }, retain);
      await expect(asDeposed(() => run.flush())).rejects.toThrow(LeadershipLost);
      // The run that hits it ends, and what it deferred with it: the round is the new leader's to ask for again.
      run.close();
    });

    it('a retained update alone', async () => {
      const retain = () => first.store.retainUpdate({ job: JOB, round: 2, participant: 'a', sha256: 'd'.repeat(64), weights: new Uint8Array([9]) });
      await expect(asDeposed(retain)).rejects.toThrow(LeadershipLost);
    });

    it("a round's evaluation", async () => {
      await expect(asDeposed(() => first.store.setRoundEvaluation(JOB, 1, { metrics: { loss: 1 }, numExamples: 3, participants: ['a'] }))).rejects.toThrow(LeadershipLost);
    });

    it('the start of training', async () => {
      await expect(asDeposed(() => first.store.beginTraining(JOB, preprocessing, job.admission, model(0)))).rejects.toThrow(LeadershipLost);
    });
  });

  it('lets the new leader commit the next round and append to the log, through its own store', async () => {
    await second.store.fenced(current, () => commitRound(second.store, second.audit, 2));
    await second.store.fenced(current, () => second.store.updateJob(JOB, { status: 'completed' }));
    const after = await settled(await snapshot(second.store));
    expect(after).toMatchObject({ job: { status: 'completed', round: 2 }, rounds: [[1, null], [2, null]], model: 2, retained: [true, true, false] });
    const kinds = (await toArray(second.store.auditRecords())).map(({ text }) => (JSON.parse(text) as { kind: string }).kind);
    expect(kinds).toEqual(['coordinator.key', 'updates.pruned', 'updates.pruned']);
  });

  it("writes a record of no job after what the leader's run deferred, and without what a deposed run did, dropped for good", async () => {
    const update = (participant: string, fence: Fence) => {
      const header = { type: 'update', job: JOB, round: 3, participant } as never;
      const retain = { job: JOB, round: 3, participant, sha256: 'c'.repeat(64), weights: new Uint8Array([7]) };
      const run = first.audit.forRun(JOB, fence);
      run.defer('update.accepted', `participant:${participant}`, { job: JOB, round: 3, participant, sha256: 'c'.repeat(64), numSamples: 4, header, signature: 'x', retained: true }, retain);
      return run;
    };
    const kinds = async (after: number) => (await toArray(first.store.auditRecords(after))).map(({ text }) => (JSON.parse(text) as { kind: string }).kind);
    const head = (await first.store.auditHead())!.seq;
    // A run this replica still believes it leads, deposed without knowing it: its deferred record is not the admin's to write.
    const stale = update('a', deposed);
    await first.audit.append('user.added', 'operator', { name: 'ada', role: 'admin' });
    expect(await kinds(head)).toEqual(['user.added']);
    expect(await first.store.getRetainedUpdate(JOB, 3, 'a', 'c'.repeat(64))).toBeUndefined();
    await stale.flush();
    expect(await kinds(head)).toEqual(['user.added']);
    stale.close();
    // The current leader's run (here on the same store): its deferred record goes first, checked against its epoch.
    const led = update('b', current);
    await first.audit.append('user.added', 'operator', { name: 'bob', role: 'viewer' });
    expect(await kinds(head)).toEqual(['user.added', 'update.accepted', 'user.added']);
    expect(await first.store.getRetainedUpdate(JOB, 3, 'b', 'c'.repeat(64))).toEqual(new Uint8Array([7]));
    led.close();
  });

  it('checks the fence of a write that joins a transaction begun without one', async () => {
    await expect(
      first.store.transaction(() => first.store.fenced(deposed, () => first.store.updateJob(JOB, { error: 'late' }))),
    ).rejects.toThrow(LeadershipLost);
    expect((await first.store.getJob(JOB))!.error).toBeNull();
  });
});

describe('the same writes on SQLite, one process', () => {
  it('are not checked: a fence with any epoch writes as before, with no epochs table read', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-fence-'));
    const store = await SqliteStore.open(path.join(dir, 'store.sqlite'));
    try {
      const audit = await AuditLog.open(store, CoordinatorIdentity.fromDataDir(dir));
      await store.addJob(job);
      await store.fenced({ job: JOB, epoch: 42 }, async () => {
        await commitRound(store, audit, 1);
        await store.updateJob(JOB, { status: 'completed' });
      });
      expect(await settled(await snapshot(store))).toMatchObject({ job: { status: 'completed', round: 1 }, rounds: [[1, null]], model: 1, retained: [true, false, false] });
      // The table exists, as on PostgreSQL, and stays empty.
      expect(store.connection.prepare('SELECT COUNT(*) AS n FROM job_leadership').get()).toEqual({ n: 0 });
    } finally {
      await store.close();
    }
  });
});
