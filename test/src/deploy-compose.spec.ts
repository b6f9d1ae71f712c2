/**
 * compose.yaml's topology run with real processes, as there is no Docker engine
 * here: Debian's HAProxy on deploy/haproxy.cfg in front of two coordinator
 * replicas on one PostgreSQL database and one Redis (real services on loopback,
 * a database and a key prefix of this run's own), three agents enrolled and
 * running through the load balancer on the compose file's split of the demo
 * data, and the demo's job from deploy/demo-job.json. The leader is stopped as a
 * rolling restart stops it (SIGTERM) while the job runs: the other replica
 * finishes the job, every round is committed once, and the audit verifies.
 * Each replica has a data directory of its own and reads the one key file made
 * by `fl-coordinator key generate`, as the compose secret is.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import * as fs from 'node:fs';
import Redis from 'ioredis';
import type { JobSpecInput } from '@fl/shared';
import { DEPLOY, mounts, readCompose, runDemoSplit, startHaproxy, type RunningHaproxy } from './deploy-files';
import { AdminApi, eventually, tempDir } from './harness';
import { AGENT_CLI, COORDINATOR_CLI, run, runToEnd, startCoordinatorProcess, type Running } from './processes';

jest.setTimeout(600_000);

const ADMIN_TOKEN = 'compose-admin-token-0123456789';
const POSTGRES = 'postgres://postgres@127.0.0.1:5432';
const REDIS_URL = 'redis://127.0.0.1:6379';
const ROUNDS = 5;

describe("compose.yaml's replicas behind its HAProxy, with processes", () => {
  const database = `fl_compose_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const prefix = `fl-test-compose:${database}:`;
  const databaseUrl = `${POSTGRES}/${database}`;
  const dir = tempDir('compose');
  const keyFile = path.join(dir, 'coordinator-key.json');
  const processes: Running[] = [];
  let replicas: (Running & { url: string })[] = [];
  let haproxy: RunningHaproxy;

  beforeAll(async () => {
    const created = spawnSync('createdb', ['-h', '127.0.0.1', '-U', 'postgres', database], { encoding: 'utf8' });
    if (created.status !== 0) throw new Error(`createdb: ${created.stderr}`);
    // The replicas' settings are compose.yaml's, pointed at the services on loopback.
    const { compose } = readCompose('compose.yaml');
    const env = compose.services['coordinator-a'].environment!;
    await runToEnd(COORDINATOR_CLI, ['key', 'generate', keyFile]);
    const args = (name: string) => [
      '--data-dir', path.join(dir, name),
      '--key-file', keyFile,
      '--database-url', databaseUrl,
      '--redis-url', REDIS_URL,
      '--redis-prefix', prefix,
      '--admin-token', ADMIN_TOKEN,
      '--max-pending-connections-per-address', env.FL_MAX_PENDING_CONNECTIONS_PER_ADDRESS,
      // compose trusts its private network's balancer (FL_TRUST_PROXY); this one is on loopback.
      '--trust-proxy', 'loopback',
      '--log-level', 'warn',
    ];
    replicas.push(await startCoordinatorProcess(args('coordinator-a')));
    replicas.push(await startCoordinatorProcess(args('coordinator-b')));
    processes.push(...replicas);
    haproxy = await startHaproxy({ 'coordinator-a': Number(new URL(replicas[0].url).port), 'coordinator-b': Number(new URL(replicas[1].url).port) });
  });

  afterAll(async () => {
    const exits = processes.filter((p) => p.child.exitCode === null).map((p) => new Promise((resolve) => (p.child.once('exit', resolve), p.child.kill('SIGTERM'))));
    await Promise.all(exits);
    await haproxy?.stop();
    spawnSync('dropdb', ['-h', '127.0.0.1', '-U', 'postgres', '--if-exists', '--force', database]);
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  it("finishes the demo's job through the load balancer when its leader is stopped mid-job, each round once, the audit verified", async () => {
    const { compose } = readCompose('compose.yaml');
    const split = runDemoSplit(compose);
    expect(split.status).toBe(0);
    const api = new AdminApi(haproxy.url, ADMIN_TOKEN);
    for (const [name, agent] of Object.entries(compose.services).filter(([service]) => service.startsWith('agent-'))) {
      const site = name.replace('agent-', 'site-');
      const invitation = await api.request<{ token: string }>('POST', '/api/invitations', { organisation: site, country: 'DE', name: site });
      const key = path.join(tempDir('compose-agent'), 'key.json');
      await runToEnd(AGENT_CLI, ['enroll', '--coordinator', haproxy.url, '--token', invitation.body.token, '--key', key, '--name', site]);
      expect((await api.request('POST', `/api/participants/${site}/approve`, {})).status).toBe(200);
      // The agent's --data, in its mount of the split's volume.
      const mount = mounts(agent).find((m) => m.source === split.volume.source)!;
      const data = path.join(split.dir, path.relative(mount.target, agent.command![agent.command!.indexOf('--data') + 1]));
      expect(fs.existsSync(data)).toBe(true);
      processes.push(run(AGENT_CLI, ['run', '--coordinator', haproxy.url, '--key', key, '--data', data]));
    }
    const spec = JSON.parse(fs.readFileSync(path.join(DEPLOY, 'demo-job.json'), 'utf8')) as JobSpecInput;
    const job = (await api.request<{ id: string }>('POST', '/api/jobs', { ...spec, rounds: ROUNDS })).body;
    await eventually(
      () => api.request<unknown[]>('GET', `/api/jobs/${job.id}/rounds`).then((r) => r.body.length),
      (committed) => committed >= 2,
      300_000,
    );

    // Stop the leader as a rolling restart does; its agents come back through the load balancer.
    const leads = async (url: string) =>
      /^fl_leader (\d+)/m.exec(await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text())?.[1];
    const leading = await Promise.all(replicas.map((r) => leads(r.url)));
    expect([...leading].sort()).toEqual(['0', '1']);
    const leader = replicas[leading.indexOf('1')];
    const stopped = new Promise<number | null>((resolve) => leader.child.once('exit', resolve));
    leader.child.kill('SIGTERM');
    // Its output is in the failure message: what went wrong in the shutdown.
    expect({ exit: await stopped, output: leader.output() }).toMatchObject({ exit: 0 });
    replicas = replicas.filter((r) => r !== leader);

    const done = await eventually(
      () => api.request<{ status: string; error: string | null }>('GET', `/api/jobs/${job.id}`).then((r) => r.body),
      (state) => state.status === 'completed' || state.status === 'failed',
      300_000,
    );
    expect(done).toMatchObject({ status: 'completed' });
    const rounds = (await api.request<{ round: number }[]>('GET', `/api/jobs/${job.id}/rounds`)).body.map((r) => r.round);
    expect(rounds).toEqual(Array.from({ length: ROUNDS }, (_, i) => i + 1));
    expect(await leads(replicas[0].url)).toBe('0');
    const audit = await runToEnd(COORDINATOR_CLI, ['audit', 'verify', '--data-dir', path.join(dir, 'coordinator-a'), '--database-url', databaseUrl]);
    expect(audit).toContain(`${ROUNDS} rounds, ${ROUNDS} recomputed`);
  });
});
