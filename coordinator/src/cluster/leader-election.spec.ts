/**
 * Job leadership on the real PostgreSQL at 127.0.0.1:5432: two elections stand
 * for two replicas, each with its own connection, on a database made for the
 * run, whose epochs' table the store's migrations make, dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { PostgresStore } from '../storage/store.postgres';
import { assertEpoch, InProcessLeaderElection, LeadershipLost, PgLeaderElection, type Leadership } from './leader-election';

const ADMIN_URL = process.env.FL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

describe('job leadership in one process', () => {
  it('is always this process, at epoch 1, at once', () => {
    const election = new InProcessLeaderElection();
    expect(election.tryLead('job-1')).toMatchObject({ job: 'job-1', epoch: 1 });
  });
});

describe('job leadership on PostgreSQL', () => {
  const database = `fl_leadership_${randomBytes(6).toString('hex')}`;
  const url = Object.assign(new URL(ADMIN_URL), { pathname: `/${database}` }).toString();
  const elect = (replica: string) => new PgLeaderElection({ connection: url, replica });
  const server = new Client({ connectionString: ADMIN_URL });
  const admin = new Client({ connectionString: url });
  const first = elect('replica-1');
  const second = elect('replica-2');
  /** rounds as a leader commits them, with the epoch it committed them at */
  const rounds = 'committed_rounds';

  beforeAll(async () => {
    await server.connect();
    await server.query(`CREATE DATABASE ${database}`);
    await (await PostgresStore.open(url)).close();
    await admin.connect();
    await admin.query(`CREATE TABLE ${rounds} (job text NOT NULL, round int NOT NULL, epoch bigint NOT NULL, PRIMARY KEY (job, round))`);
  });

  afterAll(async () => {
    await Promise.all([first.close(), second.close()]);
    await admin.end();
    await server.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await server.end();
  });

  /** A round committed as a leader commits it: the epoch checked inside the transaction. */
  async function commitRound(job: string, round: number, epoch: number): Promise<void> {
    await admin.query('BEGIN');
    try {
      await assertEpoch(admin, job, epoch);
      await admin.query(`INSERT INTO ${rounds} (job, round, epoch) VALUES ($1, $2, $3)`, [job, round, epoch]);
      await admin.query('COMMIT');
    } catch (err) {
      await admin.query('ROLLBACK');
      throw err;
    }
  }

  let firstLease: Leadership;

  it('gives a job to one contender only, and another job to the other', async () => {
    const [one, two] = await Promise.all([first.tryLead('job-1'), second.tryLead('job-1')]);
    expect([one, two].filter((lease) => lease !== null)).toHaveLength(1);
    // whichever won, the order from here on is the same: make `first` the holder
    if (one === null) {
      await two!.release();
      firstLease = (await first.tryLead('job-1'))!;
    } else firstLease = one;
    expect(firstLease).toMatchObject({ job: 'job-1' });
    expect(await second.tryLead('job-1')).toBeNull();
    expect(await second.tryLead('job-2')).toMatchObject({ job: 'job-2', epoch: 1 });
    const { rows } = await admin.query('SELECT job, leader FROM job_leadership ORDER BY job');
    expect(rows).toEqual([
      { job: 'job-1', leader: 'replica-1' },
      { job: 'job-2', leader: 'replica-2' },
    ]);
    await commitRound('job-1', 1, firstLease.epoch);
  });

  it("hands the job to the other, at a higher epoch, when the holder's connection dies; the old leader can no longer commit", async () => {
    const lost = new Promise<void>((resolve) => firstLease.onLost(resolve));
    await admin.query('SELECT pg_terminate_backend($1)', [await first.backendPid()]);
    await lost;
    // The backend releases its locks as it exits; the other takes the job as soon as it has.
    let taken: Leadership | null = null;
    for (let attempt = 0; attempt < 200 && !taken; attempt++) {
      taken = await second.tryLead('job-1');
      if (!taken) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(taken).toMatchObject({ job: 'job-1', epoch: firstLease.epoch + 1 });
    await expect(commitRound('job-1', 2, firstLease.epoch)).rejects.toThrow(LeadershipLost);
    await commitRound('job-1', 2, taken!.epoch);
    const { rows } = await admin.query(`SELECT round, epoch::int AS epoch FROM ${rounds} WHERE job = 'job-1' ORDER BY round`);
    expect(rows).toEqual([
      { round: 1, epoch: firstLease.epoch },
      { round: 2, epoch: taken!.epoch },
    ]);
    // the deposed replica reconnects and contends again: the job is taken
    expect(await first.tryLead('job-1')).toBeNull();
    await taken!.release();
    expect(await first.tryLead('job-1')).toMatchObject({ epoch: firstLease.epoch + 2 });
  });

  it('refuses a write of a job that no leader ever took', async () => {
    await expect(commitRound('job-unknown', 1, 1)).rejects.toThrow(/leadership of epoch 1 was lost \(epoch now unknown\)/);
  });
});
