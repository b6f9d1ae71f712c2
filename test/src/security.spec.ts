/**
 * Who may do what: users and roles against every REST route, invitations and
 * enrollment (expiry, reuse, proof of key), approval, and revocation cutting a
 * participant off in the middle of a job while the others finish it. Then the
 * audit log of that job: it verifies, every round recomputed from the retained
 * updates, and exports a bundle a participant verifies on its own.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ManualClock, type JobEvent, type RunningCoordinator } from '@fl/coordinator';
import {
  AuditRecordSchema,
  encodeKey,
  encodeWeights,
  generateKeyPair,
  randomNonce,
  signHeader,
  writeKeyFile,
  type AuditRecord,
  type ErrorBody,
  type KeyPair,
  type TrainMessage,
} from '@fl/shared';
import { CoordinatorPins, enroll, ParticipantAgent } from '@fl/participant-agent';
import { AdminApi, DATA_DIR, eventually, featuresOf, splitCsv, tempDir, testCoordinator } from './harness';
import { AGENT_CLI, COORDINATOR_CLI } from './processes';
import { connectRaw, craftUpdate, handshakeAuth } from './raw-client';

jest.setTimeout(180_000);

const exec = promisify(execFile);
const PASSWORD = 'a long enough passphrase';

/** public: anyone; read: viewers too; signed-in: any signed-in caller, whatever the method; change and admin-only: admins. */
type Access = 'public' | 'read' | 'signed-in' | 'change' | 'admin-only';

/** Every route of the API and who may use it; the first test checks that no route is missing here. */
const ROUTES: { method: string; path: string; access: Access; body?: unknown }[] = [
  { method: 'GET', path: '/api/health', access: 'public' },
  { method: 'GET', path: '/api/health/live', access: 'public' },
  { method: 'GET', path: '/api/health/ready', access: 'public' },
  { method: 'GET', path: '/api/openapi.json', access: 'public' },
  { method: 'GET', path: '/api/schemas/job.json', access: 'public' },
  { method: 'GET', path: '/api/docs', access: 'public' },
  { method: 'GET', path: '/api/docs/init.js', access: 'public' },
  { method: 'POST', path: '/api/session', access: 'public', body: {} },
  { method: 'GET', path: '/api/session', access: 'read' },
  { method: 'DELETE', path: '/api/session', access: 'signed-in' },
  { method: 'GET', path: '/api/users', access: 'admin-only' },
  { method: 'POST', path: '/api/users', access: 'admin-only', body: {} },
  { method: 'DELETE', path: '/api/users/:name', access: 'admin-only' },
  { method: 'GET', path: '/api/tokens', access: 'admin-only' },
  { method: 'POST', path: '/api/tokens', access: 'admin-only', body: {} },
  { method: 'DELETE', path: '/api/tokens/:id', access: 'admin-only' },
  { method: 'GET', path: '/api/participants', access: 'read' },
  { method: 'POST', path: '/api/participants', access: 'change', body: {} },
  { method: 'POST', path: '/api/participants/:name/approve', access: 'change', body: {} },
  { method: 'POST', path: '/api/participants/:name/reject', access: 'change', body: {} },
  { method: 'POST', path: '/api/participants/:name/revoke', access: 'change', body: {} },
  { method: 'GET', path: '/api/invitations', access: 'read' },
  { method: 'POST', path: '/api/invitations', access: 'change', body: {} },
  { method: 'DELETE', path: '/api/invitations/:id', access: 'change' },
  { method: 'POST', path: '/api/enrollments', access: 'public', body: {} },
  { method: 'GET', path: '/api/jobs', access: 'read' },
  { method: 'POST', path: '/api/jobs', access: 'change', body: {} },
  { method: 'GET', path: '/api/jobs/:id', access: 'read' },
  { method: 'POST', path: '/api/jobs/:id/pause', access: 'change' },
  { method: 'POST', path: '/api/jobs/:id/resume', access: 'change' },
  { method: 'POST', path: '/api/jobs/:id/stop', access: 'change' },
  { method: 'GET', path: '/api/jobs/:id/rounds', access: 'read' },
  { method: 'GET', path: '/api/jobs/:id/model', access: 'read' },
  { method: 'GET', path: '/api/audit', access: 'read' },
  { method: 'GET', path: '/api/audit/verify', access: 'read' },
];

/** The routes the coordinator's HTTP server really has, from Express's router. */
function registeredRoutes(coordinator: RunningCoordinator): string[] {
  const express = coordinator.app.getHttpAdapter().getInstance() as {
    router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
  };
  return express.router.stack
    .flatMap((layer) => (layer.route ? Object.keys(layer.route.methods).map((m) => `${m.toUpperCase()} ${layer.route!.path}`) : []))
    .filter((route) => route.includes(' /api/'))
    .sort();
}

async function call(url: string, method: string, route: string, token?: string, body?: unknown): Promise<{ status: number; body: { error?: ErrorBody } & Record<string, unknown> }> {
  const response = await fetch(`${url}${route}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  // The API reference page and its script are not JSON.
  const json = response.headers.get('content-type')?.includes('json') ?? false;
  return { status: response.status, body: text && json ? JSON.parse(text) : {} };
}

async function signIn(url: string, name: string, password = PASSWORD): Promise<string> {
  const { status, body } = await call(url, 'POST', '/api/session', undefined, { name, password });
  if (status !== 201) throw new Error(`sign-in of ${name}: ${status} ${JSON.stringify(body)}`);
  return body.token as string;
}

describe('users, roles, enrollment and revocation', () => {
  /** Invitations expire by it: the test moves it instead of waiting. */
  const clock = new ManualClock();
  let coordinator: RunningCoordinator;
  let url: string;
  let admin: string;
  let viewer: string;

  beforeAll(async () => {
    // A low sign-in limit so that the rate limit is reached in a few attempts.
    coordinator = await testCoordinator({ loginFailuresPerMinute: 5 }, clock);
    url = coordinator.url;
    const api = AdminApi.of(coordinator);
    await api.request('POST', '/api/users', { name: 'ada', password: PASSWORD, role: 'admin' });
    await api.request('POST', '/api/users', { name: 'vera', password: PASSWORD, role: 'viewer' });
    admin = await signIn(url, 'ada');
    viewer = await signIn(url, 'vera');
  });

  afterAll(() => coordinator?.close());

  it('lists every route of the API in the access table', () => {
    expect(registeredRoutes(coordinator)).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
  });

  it('answers each role on each route as the table says: public, read, change or admin only', async () => {
    const unknownId = (route: string) => route.replace(/:(name|id)/g, 'no-such-thing');
    for (const { method, path: route, access, body } of ROUTES) {
      const where = `${method} ${route}`;
      // Signing out is tried with throwaway sessions, so that the tokens of this test stay valid.
      const tokens =
        where === 'DELETE /api/session'
          ? { admin: await signIn(url, 'ada'), viewer: await signIn(url, 'vera') }
          : { admin, viewer };
      const anonymous = await call(url, method, unknownId(route), undefined, body);
      const asViewer = await call(url, method, unknownId(route), tokens.viewer, body);
      const asAdmin = await call(url, method, unknownId(route), tokens.admin, body);
      const outcome = { where, anonymous: anonymous.status, viewer: asViewer.status, admin: asAdmin.status };
      // "Allowed" means the guard let it through: the answer may still be 400 or 404 for the made-up ids and bodies.
      const allowed = (status: number) => status !== 401 && status !== 403;
      if (access === 'public') {
        expect({ ...outcome, allowed: allowed(anonymous.status) }).toMatchObject({ allowed: true });
        continue;
      }
      expect({ ...outcome, anonymousCode: anonymous.body.error?.code }).toMatchObject({ anonymous: 401, anonymousCode: 'UNAUTHORIZED' });
      expect({ ...outcome, adminAllowed: allowed(asAdmin.status) }).toMatchObject({ adminAllowed: true });
      if (access === 'read' || access === 'signed-in') expect({ ...outcome, viewerAllowed: allowed(asViewer.status) }).toMatchObject({ viewerAllowed: true });
      else expect({ ...outcome, viewerCode: asViewer.body.error?.code }).toMatchObject({ viewer: 403, viewerCode: 'FORBIDDEN' });
    }
  });

  it('refuses the live admin namespace without a valid token', async () => {
    const { io } = await import('socket.io-client');
    const attempt = (token?: string) =>
      new Promise<string>((resolve) => {
        const socket = io(`${url}/admin`, { auth: token ? { token } : {}, transports: ['websocket'], reconnection: false, forceNew: true });
        socket.once('connect', () => (socket.close(), resolve('connected')));
        socket.once('connect_error', (err: Error & { data?: ErrorBody }) => (socket.close(), resolve(err.data?.code ?? err.message)));
      });
    expect(await attempt()).toBe('UNAUTHORIZED');
    expect(await attempt('not-a-token-at-all')).toBe('UNAUTHORIZED');
    expect(await attempt(viewer)).toBe('connected');
    expect(await attempt(admin)).toBe('connected');
  });

  it('tells the live feed what the audit log records: an invitation made by another admin', async () => {
    const { io } = await import('socket.io-client');
    const socket = io(`${url}/admin`, { auth: { token: viewer }, transports: ['websocket'], reconnection: false, forceNew: true });
    try {
      await new Promise<void>((resolve, reject) => (socket.once('connect', resolve), socket.once('connect_error', reject)));
      const told = new Promise<{ head: number; kinds: string[] }>((resolve) => socket.once('audit', resolve));
      await call(url, 'POST', '/api/invitations', admin, { organisation: 'Live Bank', country: 'BE' });
      const event = await told;
      expect(event.kinds).toEqual(['invitation.created']);
      expect((await call(url, 'GET', '/api/audit?limit=1000', viewer)).body.head).toMatchObject({ seq: event.head });
    } finally {
      socket.close();
    }
  });

  it('ends the live feed of a session that signs out', async () => {
    const { io } = await import('socket.io-client');
    const session = await signIn(url, 'vera');
    const socket = io(`${url}/admin`, { auth: { token: session }, transports: ['websocket'], reconnection: false, forceNew: true });
    await new Promise<void>((resolve, reject) => (socket.once('connect', resolve), socket.once('connect_error', reject)));
    const closed = new Promise<string>((resolve) => socket.once('disconnect', resolve));
    expect((await call(url, 'DELETE', '/api/session', session)).status).toBe(204);
    expect(await closed).toBe('io server disconnect');
  });

  it('signs out, and lets API tokens act with their user\'s role until revoked', async () => {
    const session = await signIn(url, 'vera');
    expect((await call(url, 'GET', '/api/session', session)).body).toEqual({ role: 'viewer', user: 'vera' });
    expect((await call(url, 'DELETE', '/api/session', session)).status).toBe(204);
    expect((await call(url, 'GET', '/api/session', session)).status).toBe(401);

    const made = await call(url, 'POST', '/api/tokens', admin, { label: 'nightly export' });
    expect(made.status).toBe(201);
    const token = made.body.token as string;
    expect((await call(url, 'GET', '/api/tokens', admin)).body).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: made.body.id, user: 'ada', label: 'nightly export' })]),
    );
    expect(JSON.stringify((await call(url, 'GET', '/api/tokens', admin)).body)).not.toContain(token);
    expect((await call(url, 'GET', '/api/session', token)).body).toEqual({ role: 'admin', user: 'ada' });
    expect((await call(url, 'DELETE', `/api/tokens/${made.body.id}`, admin)).status).toBe(204);
    expect((await call(url, 'GET', '/api/session', token)).status).toBe(401);
  });

  it('refuses short passwords and duplicate users', async () => {
    expect((await call(url, 'POST', '/api/users', admin, { name: 'bob', password: 'short', role: 'viewer' })).body.error?.code).toBe('VALIDATION_FAILED');
    expect((await call(url, 'POST', '/api/users', admin, { name: 'vera', password: PASSWORD, role: 'viewer' })).body.error?.code).toBe('CONFLICT');
  });

  it('rate-limits sign-in attempts per user, even with the right password afterwards', async () => {
    await call(url, 'POST', '/api/users', admin, { name: 'target', password: PASSWORD, role: 'viewer' });
    const codes: (string | undefined)[] = [];
    for (let i = 0; i < 6; i++) codes.push((await call(url, 'POST', '/api/session', undefined, { name: 'target', password: `wrong ${i}` })).body.error?.code);
    expect(codes.slice(0, 5)).toEqual(Array(5).fill('UNAUTHORIZED'));
    expect(codes[5]).toBe('RATE_LIMITED');
    const right = await call(url, 'POST', '/api/session', undefined, { name: 'target', password: PASSWORD });
    expect([right.status, right.body.error?.code]).toEqual([429, 'RATE_LIMITED']);
  });

  describe('invitations', () => {
    const invite = async (body: Record<string, unknown>) => {
      const { status, body: answer } = await call(url, 'POST', '/api/invitations', admin, { organisation: 'Bank of Tests', country: 'NL', ...body });
      expect(status).toBe(201);
      return answer as { id: string; token: string; expiresAt: number };
    };
    const enrollWith = (token: string, name: string, keys: KeyPair = generateKeyPair()) =>
      enroll({ coordinatorUrl: url, token, name, keys, coordinatorKey: coordinator.identity.publicKey });

    it('enroll a key once: the same site may ask again, another key is refused INVITATION_USED', async () => {
      const invitation = await invite({});
      const keys = generateKeyPair();
      const first = await enrollWith(invitation.token, 'site-once', keys);
      expect(first.enrolled).toMatchObject({ participant: 'site-once', organisation: 'Bank of Tests', country: 'NL', status: 'pending' });
      expect(first.enrolled.coordinatorKey).toBe(coordinator.identity.publicKey);
      expect((await enrollWith(invitation.token, 'site-once', keys)).enrolled.participant).toBe('site-once');
      await expect(enrollWith(invitation.token, 'site-other')).rejects.toMatchObject({ code: 'INVITATION_USED' });
      const listed = (await call(url, 'GET', '/api/invitations', viewer)).body as unknown as { id: string; status: string; usedBy: string }[];
      expect(listed.find((i) => i.id === invitation.id)).toMatchObject({ status: 'used', usedBy: 'site-once' });
      expect(JSON.stringify(listed)).not.toContain(invitation.token);
    });

    it('pins the coordinator key given out of band once the answer is signed by it, so that a later run holds the coordinator to it', async () => {
      const invitation = await invite({});
      const pins = new CoordinatorPins(path.join(tempDir('pins'), 'known-coordinators.json'));
      const site = generateKeyPair();
      const { pinned } = await enroll({ coordinatorUrl: url, token: invitation.token, name: 'site-pinned', keys: site, coordinatorKey: coordinator.identity.publicKey, pins });
      expect(pinned).toBe('new');
      expect(pins.get(new URL(url).origin)).toBe(coordinator.identity.publicKey);
      // A pin of another key before: the key given and matched replaces it, and says so
      pins.pin(new URL(url).origin, encodeKey(generateKeyPair().publicKey));
      const again = await enroll({ coordinatorUrl: url, token: invitation.token, name: 'site-pinned', keys: site, coordinatorKey: coordinator.identity.publicKey, pins });
      expect(again.pinned).toBe('replaced');
      expect(pins.get(new URL(url).origin)).toBe(coordinator.identity.publicKey);
    });

    it('expire, and can be cancelled', async () => {
      const short = await invite({ expiresInHours: 1 });
      clock.advance(3_600_000 - 1);
      const justInTime = generateKeyPair();
      expect((await enrollWith(short.token, 'site-in-time', justInTime)).enrolled.participant).toBe('site-in-time');
      const late = await invite({ expiresInHours: 1 });
      clock.advance(3_600_000);
      await expect(enrollWith(late.token, 'site-late')).rejects.toMatchObject({ code: 'INVITATION_EXPIRED' });
      const cancelled = await invite({});
      expect((await call(url, 'DELETE', `/api/invitations/${cancelled.id}`, admin)).body).toMatchObject({ status: 'cancelled' });
      await expect(enrollWith(cancelled.token, 'site-cancelled')).rejects.toMatchObject({ code: 'INVITATION_INVALID' });
      await expect(enrollWith('fl_inv_not-a-real-token-at-all', 'site-guess')).rejects.toMatchObject({ code: 'INVITATION_INVALID' });
    });

    it('bind the name when the admin gives one, and need proof that the site holds the key', async () => {
      const named = await invite({ name: 'site-named' });
      await expect(enrollWith(named.token, 'site-else')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      // Someone registering a key they do not hold (signed with another key).
      const victim = generateKeyPair();
      const header = { type: 'enrollment' as const, token: named.token, name: 'site-named', publicKey: encodeKey(victim.publicKey), timestamp: Date.now(), nonce: randomNonce() };
      const forged = await call(url, 'POST', '/api/enrollments', undefined, { header, signature: signHeader('enrollment', header, generateKeyPair().secretKey) });
      expect(forged.body.error?.code).toBe('BAD_SIGNATURE');
      expect((await enrollWith(named.token, 'site-named')).enrolled.participant).toBe('site-named');
    });
  });

  it('lets a pending site connect only once approved; a rejected one never', async () => {
    const dir = tempDir('approval');
    const pending = { keys: generateKeyPair(), name: 'site-pending' };
    const rejected = { keys: generateKeyPair(), name: 'site-rejected' };
    for (const site of [pending, rejected]) {
      const invitation = (await call(url, 'POST', '/api/invitations', admin, { organisation: site.name, country: 'DE' })).body;
      await enroll({ coordinatorUrl: url, token: invitation.token as string, name: site.name, keys: site.keys });
    }
    const refusals: string[] = [];
    const agent = new ParticipantAgent({
      coordinatorUrl: url,
      keys: pending.keys,
      dataFile: path.join(DATA_DIR, 'breast_cancer.csv'),
      coordinatorKey: coordinator.identity.publicKey,
      log: () => undefined,
      reconnectDelayMs: 100,
      reconnectDelayMaxMs: 300,
    });
    agent.on('refused', (error: ErrorBody) => refusals.push(error.code));
    const welcomed = agent.start();
    try {
      await eventually(() => refusals, (r) => r.length >= 2, 30_000);
      expect(new Set(refusals)).toEqual(new Set(['NOT_APPROVED']));
      expect((await call(url, 'POST', '/api/participants/site-pending/approve', viewer, {})).status).toBe(403);
      expect((await call(url, 'POST', '/api/participants/site-pending/approve', admin, {})).body).toMatchObject({ status: 'approved', decidedBy: 'user:ada' });
      // The agent, still retrying, is let in.
      expect(await welcomed).toBe('site-pending');
    } finally {
      agent.stop();
    }
    expect((await call(url, 'POST', '/api/participants/site-rejected/reject', admin, { reason: 'unknown organisation' })).body).toMatchObject({ status: 'rejected' });
    const { refused, socket } = await connectRaw(url, handshakeAuth(rejected.keys));
    socket.close();
    expect(refused?.code).toBe('NOT_APPROVED');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('the first admin', () => {
  it('is made with `fl-coordinator user add` on the data directory, and signs in', async () => {
    const dataDir = tempDir('first-admin');
    const operator = (args: string[], input = '') =>
      new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = execFile(process.execPath, [COORDINATOR_CLI, ...args], (err, stdout, stderr) =>
          resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, output: stdout + stderr }),
        );
        child.stdin!.end(input);
      });
    const add = (name: string, password: string, dir = dataDir) => operator(['user', 'add', '--data-dir', dir, '--name', name, '--role', 'admin', '--password-stdin'], `${password}\n`);
    expect(await add('ada', 'short')).toMatchObject({ code: 64, output: expect.stringContaining('at least 12 characters') });
    expect(await add('ada', `${PASSWORD}\n${PASSWORD}`)).toMatchObject({ code: 64, output: expect.stringContaining('holds a line break: give it on one line') });
    // A directory that did not exist (a typo, perhaps) is said to be new, with the key a coordinator on it will show.
    expect(await add('ada', PASSWORD, path.join(dataDir, 'typo'))).toMatchObject({ code: 0, output: expect.stringMatching(/^made the data directory .*typo, its coordinator key fingerprint [0-9a-f:]+\nadded admin ada/) });
    // A flag of another command is refused, not taken and ignored; a directory without a store is a failure, not a usage error.
    expect(await operator(['audit', 'verify', '--data-dir', dataDir, '--participant', 'ada'])).toMatchObject({ code: 64, output: expect.stringContaining('--participant does not apply to audit verify') });
    expect(await operator(['audit', 'verify', '--data-dir', tempDir('no-store')])).toMatchObject({ code: 1, output: expect.stringContaining('holds no coordinator store') });
    expect(await add('ada', PASSWORD)).toMatchObject({ code: 0, output: expect.stringContaining('added admin ada') });
    expect(await add('ada', PASSWORD)).toMatchObject({ code: 1, output: expect.stringContaining('exists already') });
    const coordinator = await testCoordinator({ dataDir, adminToken: undefined });
    try {
      expect(coordinator.adminToken).toBeUndefined();
      const token = await signIn(coordinator.url, 'ada');
      expect((await call(coordinator.url, 'GET', '/api/session', token)).body).toEqual({ role: 'admin', user: 'ada' });
      const { body } = await call(coordinator.url, 'GET', '/api/audit', token);
      expect((body.records as AuditRecord[]).map((r) => `${r.kind} ${r.actor}`)).toEqual(['coordinator.key coordinator', 'user.added operator']);
    } finally {
      await coordinator.close();
    }
  });
});

describe('revocation mid-job, and the audit of that job', () => {
  let coordinator: RunningCoordinator;
  let api: AdminApi;
  let jobId: string;
  const dir = tempDir('revocation');
  const agents = new Map<string, ParticipantAgent>();
  const keys = new Map<string, KeyPair>();
  const refusals = new Map<string, string[]>();
  let revokedAfterRound = 0;

  beforeAll(async () => {
    coordinator = await testCoordinator();
    api = AdminApi.of(coordinator);
    const file = `${DATA_DIR}/breast_cancer.csv`;
    const split = splitCsv(file, 3, { seed: 5, holdout: 0, dir });
    for (const [i, name] of ['site-a', 'site-b', 'site-c'].entries()) {
      const pair = generateKeyPair();
      keys.set(name, pair);
      const invitation = await api.request<{ token: string }>('POST', '/api/invitations', { organisation: `${name} AG`, country: 'CH', name });
      await enroll({ coordinatorUrl: coordinator.url, token: invitation.body.token, name, keys: pair });
      await api.request('POST', `/api/participants/${name}/approve`, {});
      const agent = new ParticipantAgent({
        coordinatorUrl: coordinator.url,
        keys: pair,
        dataFile: split.parties[i],
        coordinatorKey: coordinator.identity.publicKey,
        journalFile: path.join(dir, `${name}.journal.jsonl`),
        log: () => undefined,
        reconnectDelayMs: 100,
        reconnectDelayMaxMs: 500,
      });
      refusals.set(name, []);
      agent.on('refused', (error: ErrorBody) => refusals.get(name)!.push(error.code));
      agents.set(name, agent);
      await agent.start();
    }
    // site-c is revoked as soon as round 2 is committed, while the job runs.
    coordinator.engine.events.on('job', (event: JobEvent) => {
      if (event.type === 'round' && event.round.round === 2 && revokedAfterRound === 0) {
        revokedAfterRound = 2;
        void api.request('POST', '/api/participants/site-c/revoke', { reason: 'left the consortium' });
      }
    });
    const job = await api.createJob({
      model: 'logistic',
      features: featuresOf(file, 'diagnosis'),
      target: 'diagnosis',
      rounds: 6,
      minParticipants: 2,
      roundDeadlineSeconds: 60,
      evaluateEvery: 0,
    });
    jobId = job.id;
    await coordinator.engine.whenFinished(jobId);
  });

  afterAll(async () => {
    agents.forEach((a) => a.stop());
    await coordinator?.close();
  });

  it('cuts the revoked participant off at once, and the job completes with the others', async () => {
    expect((await api.job(jobId)).status).toBe('completed');
    const rounds = await api.rounds(jobId);
    expect(rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(rounds[0].contributors.map((c) => c.participant).sort()).toEqual(['site-a', 'site-b', 'site-c']);
    // Round 3 holds site-c's update only if it committed before the revocation landed; from round 4 on it is gone.
    for (const r of rounds.slice(3)) expect(r.contributors.map((c) => c.participant).sort()).toEqual(['site-a', 'site-b']);
    expect(refusals.get('site-c')).toContain('REVOKED');
    expect(agents.get('site-c')!.socket.connected).toBe(false);
    const participants = (await api.request<{ name: string; status: string; decidedBy: string }[]>('GET', '/api/participants')).body;
    expect(participants.find((p) => p.name === 'site-c')).toMatchObject({ status: 'revoked', decidedBy: 'token:admin' });
  });

  it('refuses the revoked key at the handshake and any message it still sends', async () => {
    const { refused, socket } = await connectRaw(coordinator.url, handshakeAuth(keys.get('site-c')!));
    socket.close();
    expect(refused?.code).toBe('REVOKED');
    const train = { header: { job: jobId, round: 6 }, weights: encodeWeights(new Float32Array(31)) } as unknown as TrainMessage;
    const ack = await coordinator.engine.submitUpdate('site-c', craftUpdate(train, 'site-c', keys.get('site-c')!));
    expect(ack).toMatchObject({ ok: false, error: { code: 'REVOKED' } });
  });

  it('records every step in the audit log, by whom', async () => {
    const { body } = await api.request<{ records: AuditRecord[] }>('GET', '/api/audit?limit=1000');
    const records = body.records.map((r) => AuditRecordSchema.parse(r));
    const kinds = records.map((r) => `${r.kind} ${r.actor}`);
    expect(kinds[0]).toBe('coordinator.key coordinator');
    for (const name of ['site-a', 'site-b', 'site-c']) {
      expect(records.some((r) => r.kind === 'participant.enrolled' && r.data.name === name && r.actor.startsWith('invitation:'))).toBe(true);
      expect(kinds).toContain('participant.approved token:admin');
    }
    expect(records.find((r) => r.kind === 'participant.revoked')).toMatchObject({ actor: 'token:admin', data: { name: 'site-c', reason: 'left the consortium' } });
    expect(records.find((r) => r.kind === 'job.created')).toMatchObject({ actor: 'token:admin', data: { job: jobId } });
    const committed = records.filter((r) => r.kind === 'model.committed');
    expect(committed.map((r) => r.data.round)).toEqual([1, 2, 3, 4, 5, 6]);
    const rounds = await api.rounds(jobId);
    expect(committed.map((r) => r.data.sha256)).toEqual(rounds.map((r) => r.modelSha256));
    const updates = records.filter((r) => r.kind === 'update.accepted');
    expect(updates.length).toBe(rounds.reduce((n, r) => n + r.contributors.length, 0));
  });

  it('verifies: the chain, every signature, and every round recomputed from the retained updates', async () => {
    const { body } = await api.request<{ ok: boolean; lines: string[] }>('GET', '/api/audit/verify');
    expect(body.ok).toBe(true);
    expect(body.lines.join('\n')).toMatch(/6 recomputed/);
    const cli = await exec(process.execPath, [COORDINATOR_CLI, 'audit', 'verify', '--data-dir', coordinator.config.dataDir]);
    expect(cli.stdout).toMatch(/6 recomputed/);
  });

  it('exports a bundle in which each participant finds its own updates, unaltered', async () => {
    const bundle = path.join(dir, 'bundle');
    await exec(process.execPath, [COORDINATOR_CLI, 'audit', 'export', '--data-dir', coordinator.config.dataDir, '--out', bundle]);
    const keyFile = path.join(dir, 'site-a', 'key.json');
    writeKeyFile(keyFile, keys.get('site-a')!);
    const verified = await exec(process.execPath, [
      AGENT_CLI, 'audit', 'verify', bundle, '--key', keyFile, '--journal', path.join(dir, 'site-a.journal.jsonl'),
      '--coordinator-key', coordinator.identity.publicKey,
    ]);
    expect(verified.stdout).toMatch(/your 6 accepted updates/);
    // the log's head as each train request showed it is still in the exported log
    expect(verified.stdout).toMatch(/the 6 signed log heads you were shown are in the bundle/);
  });

  it('refuses to export for a participant it does not know (a mistyped name), writing nothing', async () => {
    const bundle = path.join(dir, 'bundle-typo');
    const failed = await exec(process.execPath, [COORDINATOR_CLI, 'audit', 'export', '--data-dir', coordinator.config.dataDir, '--out', bundle, '--participant', 'site-aa']).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(/--participant "site-aa": no participant of that name in /);
    expect(fs.existsSync(bundle)).toBe(false);
  });
});
