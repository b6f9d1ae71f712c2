/**
 * Two coordinator replicas behind one address, as production runs them: real
 * `fl-coordinator` processes on one PostgreSQL database (made for the run on
 * 127.0.0.1:5432, dropped after) and one Redis (127.0.0.1:6379, under a prefix
 * of this run's own, removed after), signing with one key file made by
 * `fl-coordinator key generate`. Four real agents reach them through a small
 * TCP load balancer, which sends each new connection to a replica still alive,
 * as an operator's balancer would; so the agents of a replica that dies come
 * back on the other, and keep the coordinator key they pinned.
 *
 * The leader of a multi-round job is killed with SIGKILL, or frozen with
 * SIGSTOP (a stopped container, a host cut off: its connections stay open),
 * once a round is committed and before the job ends: the other replica takes
 * the job from its last committed round and finishes it; every round is
 * committed exactly once (rounds, models, strategy states and the audit log agree),
 * `fl-coordinator audit verify` passes, and so does each site's
 * `fl-agent audit verify` of the exported log against its journal. A frozen
 * leader, let go on again, finds its leadership lost and writes nothing.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import * as net from 'node:net';
import * as path from 'node:path';
import Redis from 'ioredis';
import type { JobRecord } from '@fl/coordinator';
import { AdminApi, DATA_DIR, eventually, featuresOf, query, splitCsv, tempDir } from './harness';
import { AGENT_CLI, COORDINATOR_CLI, runToEnd, startCoordinatorProcess, startRegisteredAgents, type Running } from './processes';

jest.setTimeout(600_000);

const ADMIN_URL = process.env.FL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.FL_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOKEN = 'replica-admin-token-0123456789';
const ROUNDS = 10;

/** A TCP load balancer on loopback: each new connection goes to the next backend that accepts it; one that refuses is skipped. */
class Balancer {
  private readonly server = net.createServer((client) => this.route(client));
  private next = 0;
  private readonly sockets = new Set<net.Socket>();
  /** connections open now, by backend port */
  readonly open = new Map<number, number>();

  constructor(private readonly backends: number[]) {}

  listen(): Promise<string> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`)));
  }

  private route(client: net.Socket, tried = 0): void {
    if (tried === 0) {
      this.sockets.add(client);
      client.once('close', () => this.sockets.delete(client));
      client.on('error', () => undefined);
      // Held until a backend takes it.
      client.pause();
    }
    if (tried === this.backends.length || client.destroyed) return void client.destroy();
    const port = this.backends[this.next++ % this.backends.length];
    const backend = net.connect(port, '127.0.0.1');
    let connected = false;
    this.sockets.add(backend);
    backend.once('close', () => this.sockets.delete(backend));
    // Refused (that replica is down): the connection goes to the next one.
    backend.on('error', () => void (connected || this.route(client, tried + 1)));
    backend.once('connect', () => {
      connected = true;
      this.open.set(port, (this.open.get(port) ?? 0) + 1);
      // Either side gone, the other goes too: an agent sees its replica die, and connects again.
      backend.once('close', () => {
        this.open.set(port, this.open.get(port)! - 1);
        client.destroy();
      });
      client.once('close', () => backend.destroy());
      client.pipe(backend);
      backend.pipe(client);
      client.resume();
    });
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe.each([
  { signal: 'SIGKILL' as const, done: 'killed' },
  { signal: 'SIGSTOP' as const, done: 'frozen' },
])('two coordinator replicas on one PostgreSQL and one Redis, the leader of a job $done mid-job', ({ signal }) => {
  const dir = tempDir('replica');
  const database = `fl_replica_${randomBytes(6).toString('hex')}`;
  const url = (() => {
    const u = new URL(ADMIN_URL);
    u.pathname = `/${database}`;
    return u.toString();
  })();
  const prefix = `fl-test:${randomUUID()}:`;
  const keyFile = path.join(dir, 'secrets', 'coordinator-key.json');
  const processes: Running[] = [];
  const replicas: (Running & { url: string; dataDir: string })[] = [];
  let balancer: Balancer;
  let jobId: string;
  let leader: number;
  let killedAt: { round: number; status: string };

  beforeAll(async () => {
    await query(ADMIN_URL, `CREATE DATABASE ${database}`);
    const generated = await runToEnd(COORDINATOR_CLI, ['key', 'generate', keyFile]);
    expect(generated).toMatch(/fingerprint [0-9a-f:]+/);
    for (const name of ['replica-a', 'replica-b']) {
      // Each replica on a host of its own: a data directory of its own, the key and the store shared.
      const dataDir = path.join(dir, name);
      const args = ['--data-dir', dataDir, '--database-url', url, '--redis-url', REDIS_URL, '--redis-prefix', prefix, '--key-file', keyFile, '--admin-token', TOKEN];
      const replica = { ...(await startCoordinatorProcess(args)), dataDir };
      processes.push(replica);
      replicas.push(replica);
    }
    balancer = new Balancer(replicas.map((r) => Number(new URL(r.url).port)));
    const address = await balancer.listen();
    const api = new AdminApi(replicas[0].url, TOKEN);
    const file = path.join(DATA_DIR, 'breast_cancer.csv');
    const split = splitCsv(file, 4, { seed: 5, holdout: 0, dir });
    processes.push(...(await startRegisteredAgents(api, address, dir, split.parties)));
    // Every site connected, through the balancer, to one replica or the other; each replica sees all four.
    for (const replica of replicas) {
      await eventually(
        async () => (await new AdminApi(replica.url, TOKEN).request<{ online: boolean }[]>('GET', '/api/participants')).body.filter((p) => p.online).length,
        (online) => online === 4,
        120_000,
      );
    }
    const created = await api.request<JobRecord>('POST', '/api/jobs', {
      model: 'logistic',
      features: featuresOf(file, 'diagnosis'),
      target: 'diagnosis',
      rounds: ROUNDS,
      minParticipants: 2,
      roundDeadlineSeconds: 20,
      evaluateEvery: 0,
    });
    expect(created.status).toBe(201);
    jobId = created.body.id;
  });

  afterAll(async () => {
    for (const p of processes) p.child.kill('SIGKILL');
    await balancer?.close();
    await query(ADMIN_URL, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  it('runs the job on one replica, with agents connected to both', async () => {
    const leading = (r: Running) => r.output().includes(`leading job ${jobId}`);
    await eventually(() => replicas.filter(leading).length, (n) => n > 0, 60_000);
    expect(replicas.filter(leading)).toHaveLength(1);
    leader = replicas.findIndex(leading);
    const [{ leader: named }] = await query<{ leader: string; epoch: number }>(url, 'SELECT leader, epoch::int AS epoch FROM job_leadership WHERE job = $1', [jobId]);
    expect(named).toBeTruthy();
    for (const replica of replicas) expect(balancer.open.get(Number(new URL(replica.url).port))).toBeGreaterThan(0);
  });

  it(`sends the leader ${signal} after a round is committed and before the job ends`, async () => {
    await eventually(async () => (await query<{ round: number }>(url, 'SELECT round FROM jobs WHERE id = $1', [jobId]))[0].round, (round) => round >= 1, 240_000);
    const killed = replicas[leader];
    killed.child.kill(signal);
    if (signal === 'SIGKILL') await new Promise((resolve) => (killed.child.exitCode !== null || killed.child.signalCode !== null ? resolve(null) : killed.child.once('exit', resolve)));
    [killedAt] = await query<{ round: number; status: string }>(url, 'SELECT round, status FROM jobs WHERE id = $1', [jobId]);
    // The kill must land mid-job, or the test shows nothing about failover.
    expect(['completed', 'failed', 'stopped']).not.toContain(killedAt.status);
    expect(killedAt.round).toBeGreaterThanOrEqual(1);
    expect(killedAt.round).toBeLessThan(ROUNDS);
  });

  it('lets the other replica take the job from its last committed round and finish it', async () => {
    const survivor = replicas[1 - leader];
    const api = new AdminApi(survivor.url, TOKEN);
    const finished = await eventually(async () => (await api.request<JobRecord>('GET', `/api/jobs/${jobId}`)).body, (job) => !['waiting', 'statistics', 'training'].includes(job.status), 480_000);
    expect(finished).toMatchObject({ status: 'completed', round: ROUNDS, error: null });
    expect(survivor.output()).toMatch(new RegExp(`leading job ${jobId} from round \\d+ \\(epoch 2\\)`));
    const [{ epoch }] = await query<{ epoch: number }>(url, 'SELECT epoch::int AS epoch FROM job_leadership WHERE job = $1', [jobId]);
    expect(epoch).toBe(2);
  });

  if (signal === 'SIGSTOP') {
    it('lets the frozen leader go on: it finds its leadership lost and stops the run', async () => {
      const frozen = replicas[leader];
      frozen.child.kill('SIGCONT');
      await eventually(() => frozen.output(), (output) => output.includes(`lost the leadership of job ${jobId}`), 60_000);
    });
  }

  it('has committed every round exactly once: rounds, models and strategy states with no gap and no duplicate', async () => {
    const all = Array.from({ length: ROUNDS }, (_, i) => i + 1);
    const rounds = (table: string) => query<{ round: number }>(url, `SELECT round FROM ${table} WHERE job = $1 ORDER BY round`, [jobId]);
    expect((await rounds('rounds')).map((r) => r.round)).toEqual(all);
    expect((await rounds('models')).map((r) => r.round)).toEqual([0, ...all]);
    expect((await rounds('strategy_states')).map((r) => r.round)).toEqual(all);
  });

  it("names each round's commit once in the audit log, and `fl-coordinator audit verify` passes from either replica's data directory", async () => {
    const records = await query<{ record: string }>(url, 'SELECT record FROM audit ORDER BY seq');
    const committed = records
      .map(({ record }) => JSON.parse(record) as { kind: string; data: { job?: string; round?: number } })
      .filter((r) => r.kind === 'model.committed' && r.data.job === jobId)
      .map((r) => r.data.round);
    expect(committed).toEqual(Array.from({ length: ROUNDS }, (_, i) => i + 1));
    for (const replica of replicas) {
      const output = await runToEnd(COORDINATOR_CLI, ['audit', 'verify', '--data-dir', replica.dataDir, '--database-url', url]);
      expect(output).toContain(`${ROUNDS} recomputed`);
    }
  });

  it("says in the log that the survivor took the job up again after the round committed before the kill, and every site's `fl-agent audit verify` passes", async () => {
    const records = await query<{ record: string }>(url, 'SELECT record FROM audit ORDER BY seq');
    const resumed = records.map(({ record }) => JSON.parse(record) as { kind: string; data: unknown }).filter((r) => r.kind === 'job.resumed');
    // The round the survivor resumed from, as it logged it: the leader's last commit, which one it had
    // sent just before the signal may have moved past the round read then.
    const from = Number(new RegExp(`leading job ${jobId} from round (\\d+) \\(epoch 2\\)`).exec(replicas[1 - leader].output())![1]);
    expect(from).toBeGreaterThanOrEqual(killedAt.round);
    expect(resumed.map((r) => r.data)).toEqual([{ job: jobId, round: from }]);
    // The round under way at the kill had acknowledged updates it never recorded: each site checks the log against its journal.
    const bundle = path.join(dir, 'bundle');
    await runToEnd(COORDINATOR_CLI, ['audit', 'export', '--data-dir', replicas[1 - leader].dataDir, '--database-url', url, '--out', bundle]);
    const sites = ['party-1', 'party-2', 'party-3', 'party-4'];
    const outputs = await Promise.all(sites.map((name) => runToEnd(AGENT_CLI, ['audit', 'verify', bundle, '--key', path.join(dir, name, 'key.json')])));
    for (const output of outputs) expect(output).toMatch(/your \d+ accepted updates? (is|are) in the bundle unaltered/);
  });
});
