/**
 * Who runs a job's rounds: one leader per job. In one process that is always
 * this process (epoch 1). With replicas on PostgreSQL, a replica leads a job
 * while it holds the job's advisory lock on a connection of its own; taking it
 * increments the job's epoch in the same database, and every write of the job
 * checks that epoch (assertEpoch below), so that a leader deposed without
 * knowing it (its connection cut, its process frozen) cannot commit.
 * docs/adr/0029-job-leadership-and-epochs.md says why.
 */
import { randomUUID } from 'node:crypto';
import { Client, type ClientConfig } from 'pg';

/**
 * How long PostgreSQL waits on a replica that has gone silent before ending its
 * sessions, and the other replicas before forgetting it: a frozen process or a
 * host cut off keeps its connections open, so without a bound its leadership
 * locks, or a transaction it left open (holding a job's epoch row, or the audit
 * log's lock), would stay for hours. docs/adr/0038-silent-replicas.md says why.
 */
export const SILENT_REPLICA_MS = 15_000;

/** A job's leadership, held by this replica until released or lost. */
export interface Leadership {
  readonly job: string;
  /** increases every time a replica takes the job: the writes of an older one are refused */
  readonly epoch: number;
  /** Calls back once the leadership is lost (its connection to the database went); at once when it already is. */
  onLost(listener: () => void): void;
  release(): Promise<void>;
}

export interface LeaderElection {
  readonly kind: 'in-process' | 'postgresql';
  /** The job's leadership if no other replica holds it, else null; synchronous in one process, so a job starts as it is created. */
  tryLead(job: string): Leadership | null | Promise<Leadership | null>;
  close(): Promise<void>;
}

export const LEADER_ELECTION = Symbol('LeaderElection');

/** A leadership's lifecycle: lost once, listeners called once each. */
class Lease implements Leadership {
  private lost = false;
  private readonly listeners: (() => void)[] = [];

  constructor(
    readonly job: string,
    readonly epoch: number,
    private readonly releaseLock: () => Promise<void>,
  ) {}

  onLost(listener: () => void): void {
    if (this.lost) listener();
    else this.listeners.push(listener);
  }

  markLost(): void {
    if (this.lost) return;
    this.lost = true;
    for (const listener of this.listeners.splice(0)) listener();
  }

  async release(): Promise<void> {
    if (this.lost) return;
    this.lost = true;
    this.listeners.length = 0;
    await this.releaseLock();
  }
}

/**
 * One process leads every job; nothing changes from a coordinator without
 * replicas. It goes with the SQLite store, which checks no epoch: a PostgreSQL
 * store checks the epochs that only PgLeaderElection writes.
 */
export class InProcessLeaderElection implements LeaderElection {
  readonly kind = 'in-process';

  tryLead(job: string): Leadership {
    return new Lease(job, 1, async () => undefined);
  }

  async close(): Promise<void> {}
}

/** A write of a job by a leader whose epoch has passed: the job is someone else's now. */
export class LeadershipLost extends Error {
  constructor(
    readonly job: string,
    readonly epoch: number,
    readonly current: number | undefined,
  ) {
    super(`job ${job}: leadership of epoch ${epoch} was lost (epoch now ${current ?? 'unknown'}); the write is refused`);
  }
}

/** Something that runs SQL: a pg Client, a pool's client inside a transaction. */
export interface Queryable {
  query<R extends Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

/**
 * The fencing check: call it inside the transaction of every write of a job,
 * before committing. FOR SHARE holds the epoch's row until the transaction
 * ends, so a replica taking the job waits for this commit, and every write
 * after its epoch is in fails here.
 */
export async function assertEpoch(transaction: Queryable, job: string, epoch: number): Promise<void> {
  const current = await currentEpoch(transaction, job);
  if (current !== epoch) throw new LeadershipLost(job, epoch, current);
}

/** The job's epoch, read as assertEpoch reads it (FOR SHARE): it stays so until the transaction ends. */
export async function currentEpoch(transaction: Queryable, job: string): Promise<number | undefined> {
  const { rows } = await transaction.query<{ epoch: string }>('SELECT epoch FROM job_leadership WHERE job = $1 FOR SHARE', [job]);
  return rows[0] === undefined ? undefined : Number(rows[0].epoch);
}

export interface PgElectionOptions {
  /** postgres:// URL, or a pg client configuration; the store's migrations have made the epochs' table (job_leadership) there */
  connection: string | ClientConfig;
  /** first key of the two-key advisory locks, so that the coordinator's locks cannot meet another application's */
  lockSpace?: number;
  /** who leads, as the epochs' table shows it */
  replica?: string;
  /** how long either side waits on the other before the leaderships are given up (SILENT_REPLICA_MS; tests shorten it) */
  silentMs?: number;
  onError?: (err: unknown) => void;
}

/** The coordinator's advisory-lock space: "FLJL" (federated learning, job leadership). */
export const LOCK_SPACE = 0x464c4a4c;

export class PgLeaderElection implements LeaderElection {
  readonly kind = 'postgresql';
  readonly replica: string;
  private readonly lockSpace: number;
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private readonly leases = new Map<string, Lease>();
  private closed = false;

  constructor(private readonly options: PgElectionOptions) {
    this.lockSpace = options.lockSpace ?? LOCK_SPACE;
    this.replica = options.replica ?? randomUUID();
  }

  /** The backend process of the connection holding the locks, if connected (tests end it to depose this replica). */
  async backendPid(): Promise<number> {
    const { rows } = await (await this.connection()).query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    return rows[0].pid;
  }

  /**
   * The one connection the locks live on: advisory locks belong to a session.
   * When it goes, PostgreSQL releases them, so every leadership of this replica
   * is lost; the next attempt opens a new one. The session ends after a silence
   * on either side (`watch`), so that a frozen or cut-off replica's jobs go to
   * another one.
   */
  private connection(): Promise<Client> {
    if (this.closed) return Promise.reject(new Error('the leader election is closed'));
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const config = typeof this.options.connection === 'string' ? { connectionString: this.options.connection } : this.options.connection;
      const client = new Client({ ...config, keepAlive: true, application_name: `fl-coordinator leader ${this.replica}` });
      const gone = (err?: Error) => {
        if (err) this.options.onError?.(err);
        if (this.client !== client) return;
        this.client = undefined;
        for (const lease of this.leases.values()) lease.markLost();
        this.leases.clear();
      };
      client.on('error', gone);
      client.on('end', () => gone());
      try {
        await client.connect();
        await client.query(`SET idle_session_timeout = ${this.silentMs}`).catch((err: Error) => {
          // PostgreSQL before 14: a frozen replica keeps its jobs until TCP keepalive ends its session.
          this.options.onError?.(new Error(`cannot bound a silent replica's leadership (PostgreSQL 14 or later needed): ${err.message}`));
        });
      } catch (err) {
        await client.end().catch(() => undefined);
        throw err;
      } finally {
        this.connecting = undefined;
      }
      this.client = client;
      this.watch(client, gone);
      return client;
    })();
    return this.connecting;
  }

  private get silentMs(): number {
    return this.options.silentMs ?? SILENT_REPLICA_MS;
  }

  /**
   * Speaks on the connection three times per silence, so that PostgreSQL does
   * not end a live session, and gives the leaderships up when it has not
   * answered for a whole silence (a host cut off from the database, or this
   * process frozen): by then PostgreSQL has ended the session on its side and
   * another replica may lead the jobs.
   */
  private watch(client: Client, gone: (err?: Error) => void): void {
    let answered = Date.now();
    const timer = setInterval(() => {
      if (this.client !== client) return clearInterval(timer);
      if (Date.now() - answered > this.silentMs) {
        clearInterval(timer);
        gone(new Error(`PostgreSQL did not answer for ${this.silentMs / 1000} s: the leaderships of this replica are given up`));
        void client.end().catch(() => undefined);
        return;
      }
      client.query('SELECT 1').then(
        () => void (answered = Date.now()),
        () => undefined,
      );
    }, this.silentMs / 3);
    timer.unref();
  }

  async tryLead(job: string): Promise<Leadership | null> {
    const held = this.leases.get(job);
    if (held) return held;
    const client = await this.connection();
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::int, hashtext($2)) AS locked', [this.lockSpace, job]);
    if (!rows[0].locked) return null;
    let epoch: number;
    try {
      const taken = await client.query<{ epoch: string }>(
        `INSERT INTO job_leadership (job, epoch, leader, taken_at) VALUES ($1, 1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
         ON CONFLICT (job) DO UPDATE SET epoch = job_leadership.epoch + 1, leader = EXCLUDED.leader, taken_at = EXCLUDED.taken_at
         RETURNING epoch`,
        [job, this.replica],
      );
      epoch = Number(taken.rows[0].epoch);
    } catch (err) {
      await this.unlock(client, job);
      throw err;
    }
    const lease = new Lease(job, epoch, async () => {
      if (this.leases.get(job) === lease) this.leases.delete(job);
      if (this.client === client) await this.unlock(client, job);
    });
    this.leases.set(job, lease);
    // The connection may have gone while the epoch was taken: then the lock is gone too.
    if (this.client !== client) lease.markLost();
    return lease;
  }

  private async unlock(client: Client, job: string): Promise<void> {
    await client.query('SELECT pg_advisory_unlock($1::int, hashtext($2))', [this.lockSpace, job]).catch((err: unknown) => this.options.onError?.(err));
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    for (const lease of this.leases.values()) lease.markLost();
    this.leases.clear();
    // Ending the session releases its locks.
    await client?.end().catch(() => undefined);
  }
}
