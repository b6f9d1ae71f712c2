/**
 * Job leadership on the real PostgreSQL at 127.0.0.1:5432 (database `test`):
 * two elections stand for two replicas, each with its own connection, on a
 * table and a lock space of this run's own, dropped at the end.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { Client } from 'pg';
import { assertEpoch, InProcessLeaderElection, LeadershipLost, PgLeaderElection, type Leadership } from './leader-election';

const DATABASE = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };

describe('job leadership in one process', () => {
  it('is always this process, at epoch 1, at once', () => {
    const election = new InProcessLeaderElection();
    expect(election.tryLead('job-1')).toMatchObject({ job: 'job-1', epoch: 1 });
  });
});

describe('job leadership on PostgreSQL', () => {
  const table = `fl_test_leadership_${randomBytes(6).toString('hex')}`;
  const rounds = `${table}_rounds`;
  const lockSpace = randomInt(1, 2 ** 31 - 1);
  const elect = (replica: string) => new PgLeaderElection({ connection: DATABASE, table, lockSpace, replica });
  const admin = new Client(DATABASE);
  const first = elect('replica-1');
  const second = elect('replica-2');

  beforeAll(async () => {
    await admin.connect();
    await admin.query(`CREATE TABLE ${rounds} (job text NOT NULL, round int NOT NULL, epoch bigint NOT NULL, PRIMARY KEY (job, round))`);
  });

  afterAll(async () => {
    await Promise.all([first.close(), second.close()]);
    await admin.query(`DROP TABLE IF EXISTS ${rounds}, ${table}`);
    await admin.end();
  });

  /** A round committed as a leader commits it: the epoch checked inside the transaction. */
  async function commitRound(job: string, round: number, epoch: number): Promise<void> {
    await admin.query('BEGIN');
    try {
      await assertEpoch(admin, job, epoch, table);
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
    const { rows } = await admin.query(`SELECT job, leader FROM ${table} ORDER BY job`);
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
