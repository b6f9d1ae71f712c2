/**
 * Job leadership on the real PostgreSQL at 127.0.0.1:5432: two elections stand
 * for two replicas, each with its own connection, on a database made for the
 * run, whose epochs' table the store's migrations make, dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
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

/** A TCP relay to PostgreSQL that can be cut: both directions stop, the connections stay open, as when a host is cut off. */
class Link {
  private readonly server = net.createServer((client) => {
    const backend = net.connect(5432, '127.0.0.1');
    this.pairs.push([client, backend]);
    for (const socket of [client, backend]) socket.on('error', () => undefined);
    client.pipe(backend);
    backend.pipe(client);
  });
  private readonly pairs: [net.Socket, net.Socket][] = [];

  listen(): Promise<number> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as net.AddressInfo).port)));
  }

  cut(): void {
    for (const [client, backend] of this.pairs) {
      client.unpipe(backend);
      backend.unpipe(client);
      client.pause();
      backend.pause();
    }
  }

  close(): Promise<void> {
    for (const pair of this.pairs) for (const socket of pair) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('job leadership on PostgreSQL, when its holder goes silent', () => {
  jest.setTimeout(60_000);
  const database = `fl_silence_${randomBytes(6).toString('hex')}`;
  const url = (port = 5432) => Object.assign(new URL(ADMIN_URL), { pathname: `/${database}`, port: String(port) }).toString();
  const server = new Client({ connectionString: ADMIN_URL });
  const elections: PgLeaderElection[] = [];
  const errors: string[] = [];
  /** an election whose sessions end after a second of silence (or `silentMs`) */
  const elect = (replica: string, port?: number, silentMs = 1000) => {
    const election = new PgLeaderElection({ connection: url(port), replica, silentMs, onError: (err) => errors.push((err as Error).message) });
    elections.push(election);
    return election;
  };
  const lostOf = (lease: Leadership) => new Promise<void>((resolve) => lease.onLost(resolve));

  /** Asks until the job is taken (for 30 s at most); an attempt on a connection PostgreSQL has just ended fails, and the next one opens another. */
  async function takeEventually(election: PgLeaderElection, job: string): Promise<Leadership | null> {
    for (let attempt = 0; attempt < 600; attempt++) {
      const lease = await election.tryLead(job).catch(() => null);
      if (lease) return lease;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return null;
  }

  beforeAll(async () => {
    await server.connect();
    await server.query(`CREATE DATABASE ${database}`);
    await (await PostgresStore.open(url())).close();
  });

  afterAll(async () => {
    await Promise.all(elections.map((e) => e.close()));
    await server.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await server.end();
  });

  it('keeps a live holder\'s leadership through many silences: it speaks on its connection', async () => {
    // Two-second silences, so that a loaded machine's late timer does not pass for one
    const holder = elect('live', undefined, 2000);
    const lease = (await holder.tryLead('job-live'))!;
    let lost = false;
    lease.onLost(() => (lost = true));
    await new Promise((resolve) => setTimeout(resolve, 6000));
    expect(lost).toBe(false);
    expect(await elect('other').tryLead('job-live')).toBeNull();
  });

  it("gives a frozen holder's job to another replica: PostgreSQL ends the silent session; the holder, going on, knows it lost the job", async () => {
    const holder = elect('frozen');
    const contender = elect('contender');
    const lease = (await holder.tryLead('job-frozen'))!;
    expect(await contender.tryLead('job-frozen')).toBeNull();
    const lost = lostOf(lease);
    // The whole process stops for 2.5 seconds, as a stopped container would: no timer, no socket read.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2500);
    await lost;
    const taken = await takeEventually(contender, 'job-frozen');
    expect(taken?.epoch).toBe(lease.epoch + 1);
  });

  it("gives a cut-off holder's job to another replica, and the holder gives it up on its own when PostgreSQL stops answering", async () => {
    const link = new Link();
    const port = await link.listen();
    try {
      const holder = elect('cut-off', port);
      const contender = elect('reachable');
      const lease = (await holder.tryLead('job-cut'))!;
      expect(await contender.tryLead('job-cut')).toBeNull();
      const lost = lostOf(lease);
      link.cut();
      await lost;
      expect(errors).toContainEqual(expect.stringMatching(/PostgreSQL did not answer for 1 s: the leaderships of this replica are given up/));
      const taken = await takeEventually(contender, 'job-cut');
      expect(taken?.epoch).toBe(lease.epoch + 1);
    } finally {
      await link.close();
    }
  });

  it("ends a transaction a silent replica left open, so that its locks (here the audit log's) do not hold the others' writes", async () => {
    const frozen = await PostgresStore.open(url(), { silentMs: 1000 });
    const other = await PostgresStore.open(url());
    try {
      let otherWrote!: () => void;
      const wrote = new Promise<void>((resolve) => (otherWrote = resolve));
      // Holds the audit log's lock, then says nothing until the other store has written (or 30 s have passed).
      const left = frozen.transaction(async () => {
        await frozen.auditHead();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([wrote, new Promise((resolve) => (timer = setTimeout(resolve, 30_000)))]);
        clearTimeout(timer);
        await frozen.auditHead();
      });
      const outcome = left.then(
        () => 'committed',
        () => 'ended by PostgreSQL',
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      await other.transaction(() => other.auditHead());
      const openStill = await Promise.race([outcome, Promise.resolve('open')]);
      otherWrote();
      expect(openStill).toBe('open');
      expect(await outcome).toBe('ended by PostgreSQL');
    } finally {
      await Promise.all([frozen.close(), other.close()]);
    }
  });
});
