/**
 * Two coordinator replicas as an operator runs them: two `fl-coordinator`
 * processes (coordinator/dist/cli.js) sharing a PostgreSQL database made for
 * the run and one Redis under a prefix of the run's own, 1,000 light
 * participants connected to each, and one d = 100 job over several rounds. The
 * job's leader reaches the other replica's agents through the agent relay.
 *
 * What runs where: each replica is its own process, measured alone (its
 * resident memory and CPU from /proc); the light agents run in separate
 * processes (light-agent.ts, 200 participants each), so their cost stays out
 * of the replicas' figures; this process only registers, starts, polls the API
 * and reads /proc. Round times come from the coordinator's own record of the
 * job's rounds (GET /api/jobs/ID/rounds: when each round closed), not from
 * this process's clock.
 *
 * Needs PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres; a database
 * `fl_bench_…` is created and dropped) and Redis at 127.0.0.1:6379 (keys under
 * `fl-bench:…:`, deleted at the end); FL_BENCH_POSTGRES_URL and
 * FL_BENCH_REDIS_URL point elsewhere.
 */
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import type { JobView, ParticipantView, RoundView } from '@fl/shared';
import { encodeKey, type KeyPair } from '@fl/shared';
import { Children, registerParticipants, startLightAgentProcess } from './federation';
import { median, sleep, until } from './measure';
import { spec } from './rounds';

const COORDINATOR_CLI = path.join(path.dirname(require.resolve('@fl/coordinator/package.json')), 'dist', 'cli.js');
const POSTGRES_URL = process.env.FL_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.FL_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const ADMIN_TOKEN = 'bench-admin-token-0123456789';

/** Participants per light-agent process. */
const PER_PROCESS = 200;
/** Rounds of the job; the figure is the median of rounds 2..ROUNDS, commit to commit. */
const ROUNDS = 11;

async function sql(url: string, statement: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** The URL of `database` on the server of `url`. */
function databaseUrl(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Resident memory now and at its peak (VmRSS, VmHWM), in MiB, of a process; zeros when /proc cannot tell. */
function residentMb(pid: number | undefined): { now: number; peak: number } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) / 1024;
    return { now: field('VmRSS'), peak: field('VmHWM') };
  } catch {
    return { now: 0, peak: 0 };
  }
}

/** Calls of each Redis command so far (INFO commandstats); the server's, so other users of the same Redis count too. */
async function redisCalls(): Promise<Map<string, number>> {
  const redis = new Redis(REDIS_URL);
  try {
    const info = await redis.info('commandstats');
    return new Map([...info.matchAll(/^cmdstat_(\S+):calls=(\d+)/gm)].map((m) => [m[1], Number(m[2])]));
  } finally {
    redis.disconnect();
  }
}

/** User plus system CPU milliseconds of a process so far (Linux clock ticks of 10 ms). */
function cpuMs(pid: number | undefined): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

interface Replica {
  name: string;
  child: ChildProcess;
  url: string;
  dataDir: string;
  /** the coordinator's public key, as it prints it at start */
  key: string;
}

class Api {
  constructor(readonly url: string) {}

  async call<T>(method: string, route: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.url}${route}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const result = (await response.json()) as T;
    if (response.status >= 300) throw new Error(`${method} ${this.url}${route}: ${response.status} ${JSON.stringify(result)}`);
    return result;
  }

  async metrics(): Promise<string> {
    return (await fetch(`${this.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  }

  /** How many jobs the replica leads now, from its metrics. */
  async leads(): Promise<string> {
    return /^fl_leader (\d+)/m.exec(await this.metrics())?.[1] ?? '?';
  }

  /** The V8 heap in use and allocated, and the memory outside it, in MiB, from its metrics. */
  async heap(): Promise<string> {
    const text = await this.metrics();
    const mb = (name: string) => (Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20).toFixed(0);
    const transactions = (suffix: string) => Number(new RegExp(`^fl_store_transaction_seconds_${suffix} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
    return (
      `heap ${mb('nodejs_heap_size_used_bytes')}/${mb('nodejs_heap_size_total_bytes')}, external ${mb('nodejs_external_memory_bytes')} MiB; ` +
      `${transactions('count')} store transactions, ${transactions('sum').toFixed(1)} s in all`
    );
  }
}

/** Two replicas, their database and Redis prefix, and the agents' processes; close() removes it all. */
class Cluster {
  readonly database = `fl_bench_${randomBytes(6).toString('hex')}`;
  readonly prefix = `fl-bench:${randomBytes(6).toString('hex')}:`;
  readonly replicas: Replica[] = [];
  readonly agents: Children;
  private readonly coordinators: Children;
  private databaseMade = false;

  constructor(readonly dir: string) {
    this.agents = new Children(dir);
    this.coordinators = new Children(dir);
  }

  /** Starts a replica and resolves with its URL once it listens; FL_BENCH_CPU_PROF=DIR writes its V8 CPU profile there. */
  private async startReplica(name: string, dataDir: string): Promise<Replica> {
    const profile = process.env.FL_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.FL_BENCH_CPU_PROF)}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
    const child = this.coordinators.spawn(name, COORDINATOR_CLI, [
      '--host', '127.0.0.1',
      '--port', '0',
      '--data-dir', dataDir,
      '--database-url', databaseUrl(POSTGRES_URL, this.database),
      '--redis-url', REDIS_URL,
      '--redis-prefix', this.prefix,
      '--admin-token', ADMIN_TOKEN,
      // Warnings and errors only: the per-round and per-connection info lines are not what is measured.
      '--log-level', 'warn',
      // A thousand participants connect at once, from this one address.
      '--max-pending-connections-per-address', '1024',
      '--max-pending-connections', '1024',
      // Their handshakes queue behind one another on a loaded machine: the default 10 s cut some off.
      '--handshake-timeout-seconds', '60',
    ], { nodeOptions: profile });
    const { url, key } = await new Promise<{ url: string; key: string }>((resolve, reject) => {
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk;
        const match = /^fl-coordinator on (\S+)\n\s+coordinator key (\S+)/m.exec(output);
        if (match) resolve({ url: match[1], key: match[2] });
      });
      child.once('exit', (code) => reject(new Error(`${name} exited ${code}: ${this.coordinators.tail(child)}`)));
    });
    const replica = { name, child, url, dataDir, key };
    this.replicas.push(replica);
    return replica;
  }

  async start(count: number): Promise<void> {
    await sql(POSTGRES_URL, `CREATE DATABASE ${this.database}`);
    this.databaseMade = true;
    for (let i = 0; i < count; i++) {
      const dataDir = path.join(this.dir, `replica-${i + 1}`);
      fs.mkdirSync(dataDir, { mode: 0o700 });
      // Replicas must sign with one key: an agent pins the coordinator's key and checks the welcome of the
      // replica it is connected to and the requests the leader signs, relayed from another replica.
      // The key is read from the data directory, so each later replica gets the first one's before it starts.
      if (i > 0) fs.copyFileSync(path.join(this.replicas[0].dataDir, 'coordinator-key.json'), path.join(dataDir, 'coordinator-key.json'));
      const replica = await this.startReplica(`replica-${i + 1}`, dataDir);
      if (replica.key !== this.replicas[0].key) throw new Error(`${replica.name} signs with ${replica.key}, not with the first replica's key`);
    }
  }

  tail(replica: Replica): string {
    return this.coordinators.tail(replica.child);
  }

  check(): void {
    this.coordinators.check();
    this.agents.check();
  }

  async close(): Promise<void> {
    // The agents first, so that they do not outlive the replicas they are connected to.
    await this.agents.close();
    await this.coordinators.close();
    const errors: unknown[] = [];
    if (this.databaseMade) await sql(POSTGRES_URL, `DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`).catch((err: unknown) => errors.push(err));
    const redis = new Redis(REDIS_URL);
    try {
      for await (const keys of redis.scanStream({ match: `${this.prefix}*`, count: 1000 }) as AsyncIterable<string[]>) if (keys.length) await redis.del(...keys);
    } catch (err) {
      errors.push(err);
    } finally {
      redis.disconnect();
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    if (errors.length) throw errors[0];
  }
}

/**
 * `scale.replicas2_n2000.roundMs`: the median time between consecutive round
 * commits (rounds 2..11, as the leader recorded their closing) of a d = 100
 * logistic job without evaluation, all 2,000 participants contributing every
 * round. `scale.replicas2_n2000.replicaRssMb`: the larger of the two replicas'
 * peak resident memory (VmHWM), from their start to the job's end.
 */
export async function replicas2(): Promise<Record<string, number>> {
  const participants = 2000;
  const cluster = new Cluster(fs.mkdtempSync(path.join(os.tmpdir(), 'fl-bench-replicas-')));
  const cleanup = () => fs.rmSync(cluster.dir, { recursive: true, force: true });
  process.once('exit', cleanup);
  try {
    await cluster.start(2);
    const apis = cluster.replicas.map((r) => new Api(r.url));
    const coordinatorKey = cluster.replicas[0].key;

    const pidsAtStart = cluster.replicas.map((r) => r.child.pid);
    const idle = pidsAtStart.map((pid) => residentMb(pid).now.toFixed(0));
    let at = Date.now();
    // The store is shared: a participant registered on one replica is known to both.
    const keys = await registerParticipants((route, body) => apis[0].call('POST', route, body), 'site', participants, 8);
    process.stderr.write(`  registered ${participants} participants in ${((Date.now() - at) / 1000).toFixed(1)} s\n`);

    at = Date.now();
    const ready: Promise<void>[] = [];
    const processes = Math.ceil(participants / PER_PROCESS);
    for (let p = 0; p < processes; p++) {
      const mine: KeyPair[] = keys.slice(p * PER_PROCESS, (p + 1) * PER_PROCESS);
      // Half of the processes to each replica.
      const replica = cluster.replicas[p % cluster.replicas.length];
      ready.push(
        startLightAgentProcess(cluster.agents, `site-light-${p + 1}`, {
          url: replica.url,
          coordinatorKey,
          secretKeys: mine.map((k) => encodeKey(k.secretKey)),
          rows: 2000,
          classes: 2,
          // Agents do not all connect in the same instant: at once, a loaded machine timed the last ones out.
          connectAtOnce: 25,
        }),
      );
    }
    await Promise.all(ready);
    // Each replica sees every participant online, wherever it is connected.
    for (const api of apis) {
      await until(
        `${participants} participants online at ${api.url}`,
        async () => {
          cluster.check();
          if ((await api.call<ParticipantView[]>('GET', '/api/participants')).filter((p) => p.online).length >= participants) return true;
          // A list of 2,000 participants is no small request for the replicas that are taking the handshakes.
          await sleep(1000);
          return false;
        },
        180_000,
      );
    }
    const connected = pidsAtStart.map((pid) => residentMb(pid).now.toFixed(0));
    process.stderr.write(
      `  ${participants} participants connected, ${participants / cluster.replicas.length} to each replica, in ${((Date.now() - at) / 1000).toFixed(1)} s; ` +
        `resident memory of each replica ${idle.join(', ')} MiB at start, ${connected.join(', ')} MiB connected\n`,
    );

    const pids = cluster.replicas.map((r) => r.child.pid);
    const job = await apis[0].call<JobView>('POST', '/api/jobs', spec('logistic', 100, participants, { rounds: ROUNDS, evaluateEvery: 0, roundDeadlineSeconds: 120 }));
    // CPU of each replica between the first round's commit and the last's, seen by polling.
    let cpuFirst: number[] | undefined;
    let cpuLast: number[] | undefined;
    let leaders: Promise<string[]> | undefined;
    let redisFirst: Promise<Map<string, number>> | undefined;
    let redisLast: Promise<Map<string, number>> | undefined;
    await until(
      `job ${job.id} to complete`,
      async () => {
        cluster.check();
        const view = await apis[1].call<JobView>('GET', `/api/jobs/${job.id}`);
        if (view.status === 'failed' || view.status === 'stopped' || view.status === 'paused') throw new Error(`job ${job.id} ${view.status}: ${view.error}`);
        if (view.round >= 1 && !cpuFirst) {
          cpuFirst = pids.map(cpuMs);
          leaders = Promise.all(apis.map((api) => api.leads()));
          redisFirst = redisCalls();
        }
        if (view.round >= ROUNDS && !cpuLast) {
          cpuLast = pids.map(cpuMs);
          redisLast = redisCalls();
        }
        if (view.status === 'completed') return true;
        await sleep(200);
        return false;
      },
      600_000,
    );
    const rounds = (await apis[1].call<RoundView[]>('GET', `/api/jobs/${job.id}/rounds`)).sort((a, b) => a.round - b.round);
    if (rounds.length !== ROUNDS || rounds.some((r) => r.contributors.length !== participants)) {
      throw new Error(`expected ${ROUNDS} rounds of ${participants} contributors; got ${rounds.map((r) => r.contributors.length).join(', ')}`);
    }
    const intervals = rounds.slice(1).map((r, i) => r.closedAt - rounds[i].closedAt);
    const memory = pids.map(residentMb);
    const heaps = await Promise.all(apis.map((api) => api.heap()));
    process.stderr.write(
      `  rounds 2..${ROUNDS}, commit to commit: ${intervals.join(', ')} ms; open to close: ${rounds.slice(1).map((r) => r.closedAt - r.startedAt).join(', ')} ms\n` +
        `  jobs led by each replica during the job: ${(await leaders)?.join(', ')}; resident memory now ${memory.map((m) => m.now.toFixed(0)).join(', ')} MiB, peak ${memory.map((m) => m.peak.toFixed(0)).join(', ')} MiB\n  ${heaps.join('\n  ')}\n` +
        (cpuFirst && cpuLast ? `  CPU per round, each replica: ${cpuLast.map((c, i) => ((c - cpuFirst![i]) / (ROUNDS - 1)).toFixed(0)).join(', ')} ms\n` : ''),
    );
    if (redisFirst && redisLast) {
      const [first, last] = [await redisFirst, await redisLast];
      const perRound = [...last].map(([command, calls]) => [command, (calls - (first.get(command) ?? 0)) / (ROUNDS - 1)] as const).filter(([, n]) => n >= 1);
      process.stderr.write(`  Redis commands per round: ${perRound.sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n.toFixed(0)}`).join(', ')}\n`);
    }
    return {
      'scale.replicas2_n2000.roundMs': median(intervals),
      'scale.replicas2_n2000.replicaRssMb': Math.max(...memory.map((m) => m.peak)),
    };
  } catch (err) {
    for (const replica of cluster.replicas) process.stderr.write(`  ${replica.name}'s log ends:\n${cluster.tail(replica)}\n`);
    throw err;
  } finally {
    process.off('exit', cleanup);
    await cluster.close();
  }
}
