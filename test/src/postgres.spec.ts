/**
 * The coordinator on PostgreSQL, end to end: `fl-coordinator --database-url` on
 * a database made for the run (127.0.0.1:5432, dropped after), two real agents
 * training a small job to its end, then the operator's commands against the same
 * database: `user add`, `user list`, and `audit verify`, which recomputes every
 * round from what PostgreSQL holds. The URL carries a password (the server trusts
 * loopback and ignores it): it must appear in no output.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import type { JobRecord, RoundRecord } from '@fl/coordinator';
import { AdminApi, DATA_DIR, eventually, featuresOf, query, splitCsv, tempDir } from './harness';
import { COORDINATOR_CLI, startCoordinatorProcess, startRegisteredAgents, type Running } from './processes';

jest.setTimeout(300_000);

const ADMIN_URL = process.env.FL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;


/** Runs an operator command with `input` on its standard input; its exit code and output. */
function operator(args: string[], input = ''): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [COORDINATOR_CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    child.on('exit', (code) => resolve({ code, output }));
    child.stdin.end(input);
  });
}

describe('a job on PostgreSQL, verified by the audit', () => {
  const dir = tempDir('postgres');
  const dataDir = path.join(dir, 'coordinator');
  const database = `fl_e2e_${randomBytes(6).toString('hex')}`;
  const url = (() => {
    const u = new URL(ADMIN_URL);
    u.pathname = `/${database}`;
    u.password = PASSWORD;
    return u.toString();
  })();
  const token = 'postgres-admin-token-0123456789';
  const processes: Running[] = [];
  let coordinator: Running & { url: string };
  let api: AdminApi;
  let jobId: string;

  beforeAll(async () => {
    await query(ADMIN_URL, `CREATE DATABASE ${database}`);
    coordinator = await startCoordinatorProcess(['--data-dir', dataDir, '--database-url', url, '--admin-token', token]);
    processes.push(coordinator);
    api = new AdminApi(coordinator.url, token);
    const file = `${DATA_DIR}/breast_cancer.csv`;
    const split = splitCsv(file, 2, { seed: 3, holdout: 0, dir });
    processes.push(...(await startRegisteredAgents(api, coordinator.url, dir, split.parties)));
    const created = await api.request<JobRecord>('POST', '/api/jobs', {
      model: 'logistic',
      features: featuresOf(file, 'diagnosis'),
      target: 'diagnosis',
      rounds: 3,
      minParticipants: 2,
      roundDeadlineSeconds: 30,
    });
    jobId = created.body.id;
    await eventually(async () => (await api.request<JobRecord>('GET', `/api/jobs/${jobId}`)).body.status, (s) => s === 'completed' || s === 'failed', 180_000);
  });

  afterAll(async () => {
    for (const p of processes) p.child.kill('SIGKILL');
    await query(ADMIN_URL, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  });

  it('completes the job with its rounds in PostgreSQL, and no SQLite file beside the key', async () => {
    expect((await api.request<JobRecord>('GET', `/api/jobs/${jobId}`)).body).toMatchObject({ status: 'completed', round: 3 });
    const rounds = (await api.request<RoundRecord[]>('GET', `/api/jobs/${jobId}/rounds`)).body;
    expect(rounds.map((r) => r.round)).toEqual([1, 2, 3]);
    const stored = await query<{ round: number }>(url, 'SELECT round FROM rounds WHERE job = $1 ORDER BY round', [jobId]);
    const migrations = await query<{ name: string }>(url, 'SELECT name FROM kysely_migration ORDER BY name');
    expect(stored.map((r) => r.round)).toEqual([1, 2, 3]);
    expect(migrations.map((r) => r.name)).toEqual(['0001_initial', '0002_job_leadership', '0003_audit_index', '0004_audit_participants_by_record']);
    expect(fs.existsSync(path.join(dataDir, 'coordinator.sqlite'))).toBe(false);
    expect(coordinator.output()).toContain(`postgres://postgres:***@127.0.0.1:5432/${database}`);
  });

  it('adds and lists a user through the operator commands, on the same database', async () => {
    const added = await operator(['user', 'add', '--data-dir', dataDir, '--database-url', url, '--name', 'ada', '--role', 'admin', '--password-stdin'], 'a long passphrase\n');
    expect(added).toEqual({ code: 0, output: 'added admin ada\n' });
    const listed = await operator(['user', 'list', '--data-dir', dataDir, '--database-url', url]);
    expect(listed.code).toBe(0);
    expect(listed.output).toMatch(/^ada\tadmin\t/);
  });

  it('verifies the audit log from PostgreSQL: every round recomputed, the tables agreeing with the log', async () => {
    const { code, output } = await operator(['audit', 'verify', '--data-dir', dataDir, '--database-url', url]);
    expect(code).toBe(0);
    expect(output).toContain('3 recomputed');
    expect(output).toMatch(/store tables: 2 participants, 1 job, 3 rounds and the filters' index of \d+ records agree with the log/);
  });

  it('verifies over the API too, on the thread that opens the database for itself', async () => {
    const { status, body } = await api.request<{ ok: boolean; lines: string[] }>('GET', '/api/audit/verify');
    expect(status).toBe(200);
    expect(body.ok).toBe(true);
    expect(body.lines.at(-1)).toMatch(/^store tables: 2 participants, 1 job, 3 rounds and the filters' index of \d+ records agree with the log$/);
  });

  it('fails audit verify naming the row when a stored model changes in PostgreSQL', async () => {
    await query(url, `UPDATE models SET weights = overlay(weights placing '\\x01'::bytea from 5 for 1) WHERE job = '${jobId}' AND round = 2`);
    const { code, output } = await operator(['audit', 'verify', '--data-dir', dataDir, '--database-url', url]);
    expect(code).toBe(1);
    expect(output).toContain(`FAILED: global model of round 2 of job ${jobId} (table models of postgres://postgres:***@127.0.0.1:5432/${database})`);
  });

  it('answers a NUL in a path or a sign-in name with a clear refusal, never an internal error (PostgreSQL refuses the character)', async () => {
    const codes: string[] = [];
    for (const route of ['/api/jobs/a%00b', '/api/users/a%00b', '/api/participants/a%00b/approve', '/api/invitations/a%00b']) {
      const method = route.startsWith('/api/jobs') ? 'GET' : route.endsWith('approve') ? 'POST' : 'DELETE';
      const { status, body } = await api.request<{ error?: { code: string } }>(method, route, method === 'POST' ? {} : undefined);
      codes.push(`${status} ${body.error?.code}`);
    }
    const signIn = await fetch(`${coordinator.url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'a\u0000b', password: 'whatever-it-is' }) });
    codes.push(`${signIn.status} ${((await signIn.json()) as { error?: { code: string } }).error?.code}`);
    expect(codes).toEqual([...Array(4).fill('400 UNSAFE_TEXT'), '400 VALIDATION_FAILED']);
  });

  it('never shows the database password', () => {
    expect(coordinator.output()).not.toContain(PASSWORD);
  });
});
