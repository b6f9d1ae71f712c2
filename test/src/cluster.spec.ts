/**
 * Two coordinators sharing one Redis, as two replicas behind one address do:
 * what one sees holds on the other. In the first group each has its own store,
 * so participants are registered on both, as one shared store would show them;
 * the others share one PostgreSQL database (made for the group on
 * 127.0.0.1:5432, dropped after). Real Redis at 127.0.0.1:6379, under a prefix
 * of this run's own, removed at the end.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { computeStatistics, loadLocalData, readJournal, type ParticipantAgent } from '@fl/participant-agent';
import { io, type Socket } from 'socket.io-client';
import type { RunningCoordinator } from '@fl/coordinator';
import { generateKeyPair, randomNonce, signHeader, writeKeyFile, type AuditLiveEvent, type ErrorBody, type KeyPair, type StatisticsRequest, type TrainMessage } from '@fl/shared';
import { connectRaw, craftUpdate, emitWithAck, handshakeAuth } from './raw-client';
import { AdminApi, DATA_DIR, eventually, featuresOf, query, registerParticipant, splitCsv, startAgent, tempDir, testCoordinator } from './harness';
import { AGENT_CLI, COORDINATOR_CLI, PY_VERIFIER, PYTHON, runToEnd } from './processes';

jest.setTimeout(60_000);

const REDIS_URL = 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.FL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ADMIN_TOKEN = 'test-admin-token-0123456789';
const PASSWORD = 'a long enough passphrase';

const freshDatabaseName = () => `fl_cluster_${randomUUID().replace(/-/g, '')}`;

/** A database of this run's own on the local PostgreSQL: its address. */
async function createDatabase(name: string): Promise<string> {
  await query(POSTGRES_URL, `CREATE DATABASE ${name}`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

const dropDatabase = (name: string) => query(POSTGRES_URL, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);

async function removeKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
}

describe('two coordinators sharing Redis', () => {
  const prefix = `fl-test:${randomUUID()}:`;
  let a: RunningCoordinator;
  let b: RunningCoordinator;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    const options = { redisUrl: REDIS_URL, redisPrefix: prefix, handshakeFailuresPerMinute: 3 };
    [a, b] = await Promise.all([testCoordinator(options), testCoordinator(options)]);
  });

  afterAll(async () => {
    sockets.forEach((s) => s.close());
    await Promise.all([a?.close(), b?.close()]);
    await removeKeys(prefix);
  });

  /** A participant in both stores, as a store shared by the replicas would hold it. */
  async function participantOnBoth(name: string): Promise<KeyPair> {
    const keys = generateKeyPair();
    for (const coordinator of [a, b]) await AdminApi.of(coordinator).registerParticipant(name, `${name} Ltd`, keys.publicKey);
    return keys;
  }

  async function connected(url: string, auth: unknown): Promise<Socket> {
    const { socket, refused } = await connectRaw(url, auth);
    sockets.push(socket);
    expect(refused).toBeUndefined();
    return socket;
  }

  it('refuses on one a handshake already used on the other', async () => {
    const keys = await participantOnBoth('bank-nonce');
    const auth = handshakeAuth(keys);
    await connected(a.url, auth);
    const replayed = await connectRaw(b.url, auth);
    sockets.push(replayed.socket);
    expect(replayed.refused).toMatchObject({ code: 'REPLAYED_NONCE' });
    // a fresh handshake of the same key is let in on the other
    await connected(b.url, handshakeAuth(keys));
  });

  it('keeps one connection per participant across both: a newer one to the other replaces the older, which is told why', async () => {
    const keys = await participantOnBoth('bank-twice');
    const older = await connected(a.url, handshakeAuth(keys));
    const told = new Promise<ErrorBody>((resolve) => older.once('closing', resolve));
    const gone = new Promise<string>((resolve) => older.once('disconnect', resolve));
    const newer = await connected(b.url, handshakeAuth(keys));
    expect(await told).toMatchObject({ code: 'CONFLICT' });
    expect(await gone).toBe('io server disconnect');
    expect(newer.connected).toBe(true);
  });

  it('counts failed handshakes from one address on both against one limit', async () => {
    const stranger = generateKeyPair();
    const attempt = async (coordinator: RunningCoordinator) => {
      const { socket, refused } = await connectRaw(coordinator.url, handshakeAuth(stranger), '127.0.0.7');
      socket.close();
      return refused?.code;
    };
    expect(await attempt(a)).toBe('UNKNOWN_PARTICIPANT');
    expect(await attempt(b)).toBe('UNKNOWN_PARTICIPANT');
    expect(await attempt(a)).toBe('UNKNOWN_PARTICIPANT');
    // three failures in all, none of them three on one coordinator: both now refuse this address
    expect(await attempt(b)).toBe('RATE_LIMITED');
    expect(await attempt(a)).toBe('RATE_LIMITED');
  });

  it('closes, with the reason, the connection on one of a participant revoked on the other', async () => {
    const keys = await participantOnBoth('bank-revoked');
    const socket = await connected(b.url, handshakeAuth(keys));
    const told = new Promise<ErrorBody>((resolve) => socket.once('closing', resolve));
    const gone = new Promise<string>((resolve) => socket.once('disconnect', resolve));
    const response = await AdminApi.of(a).request('POST', '/api/participants/bank-revoked/revoke', { reason: 'left the consortium' });
    expect(response.status).toBe(200);
    expect(await told).toEqual({ code: 'REVOKED', message: 'an admin revoked bank-revoked: left the consortium' });
    expect(await gone).toBe('io server disconnect');
  });

  it("brings a dashboard connected to one the other's live events", async () => {
    const dashboard = io(`${b.url}/admin`, { auth: { token: ADMIN_TOKEN }, transports: ['websocket'], reconnection: false, forceNew: true });
    sockets.push(dashboard);
    await new Promise<void>((resolve, reject) => {
      dashboard.once('connect', resolve);
      dashboard.once('connect_error', reject);
    });
    const audit = new Promise<AuditLiveEvent>((resolve) => dashboard.on('audit', (event: AuditLiveEvent) => event.kinds.includes('invitation.created') && resolve(event)));
    const invitation = await AdminApi.of(a).request('POST', '/api/invitations', { organisation: 'Clinic Z', country: 'NL' });
    expect(invitation.status).toBe(201);
    expect((await audit).kinds).toEqual(['invitation.created']);
  });
});

describe('two coordinators sharing Redis and one PostgreSQL database, one leading the job', () => {
  const prefix = `fl-test:${randomUUID()}:`;
  const database = freshDatabaseName();
  let a: RunningCoordinator;
  let b: RunningCoordinator;
  const agents: ParticipantAgent[] = [];

  beforeAll(async () => {
    const databaseUrl = await createDatabase(database);
    a = await testCoordinator({ redisUrl: REDIS_URL, redisPrefix: prefix, databaseUrl });
    // The same store and key: what replicas share. (Two on one SQLite data directory is what its lock forbids.)
    b = await testCoordinator({ redisUrl: REDIS_URL, redisPrefix: prefix, databaseUrl, dataDir: a.config.dataDir });
  });

  afterAll(async () => {
    agents.forEach((agent) => agent.stop());
    await Promise.all([a?.close(), b?.close()]);
    await removeKeys(prefix);
    await dropDatabase(database);
  });

  /** The replica that won the job's election, and the other. */
  const leaderOf = (job: string) => eventually(() => (a.engine.leads(job) ? [a, b] : [b, a]), ([leader]) => leader.engine.leads(job));

  it('trains a job led by one with an agent connected to the other: requests and updates go through Redis', async () => {
    const dataFile = path.join(DATA_DIR, 'breast_cancer.csv');
    const split = splitCsv(dataFile, 2, { seed: 3, holdout: 0, dir: tempDir('cluster') });
    const api = AdminApi.of(a);
    agents.push(await startAgent(a, 'site-a', split.parties[0]));
    agents.push(await startAgent(b, 'site-b', split.parties[1], { keys: await registerParticipant(api, 'site-b') }));
    // each replica shows both sites online, wherever they are connected
    for (const coordinator of [a, b]) {
      const online = () => AdminApi.of(coordinator).request<{ name: string; online: boolean }[]>('GET', '/api/participants');
      const { body } = await eventually(online, ({ body: sites }) => sites.filter((site) => site.online).length === 2);
      expect(body.map(({ name, online }) => [name, online])).toEqual([
        ['site-a', true],
        ['site-b', true],
      ]);
    }
    const job = await api.createJob({ model: 'logistic', features: featuresOf(dataFile, 'diagnosis'), target: 'diagnosis', rounds: 2, minParticipants: 2, evaluateEvery: 0 });
    const [leader, other] = await leaderOf(job.id);
    await leader.engine.whenFinished(job.id);
    expect(await api.job(job.id)).toMatchObject({ status: 'completed' });
    const rounds = await api.rounds(job.id);
    expect(rounds.map((r) => r.contributors.map((c) => c.participant).sort())).toEqual([
      ['site-a', 'site-b'],
      ['site-a', 'site-b'],
    ]);
    // the job ran on the leader only
    expect(other.engine.led).toBe(0);
  });

  it('pauses and stops, asked of the other, a job its leader runs', async () => {
    // three sites needed, two connected: the job waits, running on its leader
    const job = await AdminApi.of(a).createJob({ model: 'logistic', features: [{ name: 'radius_mean', type: 'numeric' }], target: 'diagnosis', rounds: 2, minParticipants: 3 });
    const [leader, other] = await leaderOf(job.id);
    const statuses: string[] = [];
    leader.engine.events.on('job', (event) => event.type === 'status' && event.job === job.id && statuses.push(event.status));
    const elsewhere = AdminApi.of(other);
    const paused = await elsewhere.request<{ id: string }>('POST', `/api/jobs/${job.id}/pause`);
    expect(paused).toMatchObject({ status: 200, body: { id: job.id } });
    const stopped = new Promise<void>((resolve) => void leader.engine.whenFinished(job.id).then(resolve));
    expect((await elsewhere.request('POST', `/api/jobs/${job.id}/stop`)).status).toBe(200);
    await stopped;
    expect(statuses).toEqual(['paused', 'stopped']);
    expect(await elsewhere.job(job.id)).toMatchObject({ status: 'stopped' });
    // the leader recorded both, with who asked
    const controls = (await elsewhere.audit()).records.filter((r) => r.kind === 'job.control').map((r) => [r.actor, r.data]);
    expect(controls).toEqual([
      ['token:admin', { job: job.id, action: 'pause' }],
      ['token:admin', { job: job.id, action: 'stop' }],
    ]);
  });
});

describe('two coordinators sharing Redis and one PostgreSQL database', () => {
  const prefix = `fl-test:${randomUUID()}:`;
  const database = freshDatabaseName();
  let a: RunningCoordinator;
  let b: RunningCoordinator;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    const options = { redisUrl: REDIS_URL, redisPrefix: prefix, databaseUrl: await createDatabase(database) };
    a = await testCoordinator(options);
    // The same key as well: what replicas of one coordinator share.
    b = await testCoordinator({ ...options, dataDir: a.config.dataDir });
  });

  afterAll(async () => {
    sockets.forEach((s) => s.close());
    await Promise.all([a?.close(), b?.close()]);
    await removeKeys(prefix);
    await dropDatabase(database);
  });

  /** A REST call to A with a token; the body, when there is one. */
  async function call<T>(method: string, route: string, token: string, body?: unknown): Promise<{ status: number; body: T }> {
    const response = await fetch(`${a.url}${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  /** A new user, signed in on A: its session token. */
  async function signedIn(name: string): Promise<string> {
    expect((await AdminApi.of(a).request('POST', '/api/users', { name, password: PASSWORD, role: 'admin' })).status).toBe(201);
    const response = await fetch(`${a.url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, password: PASSWORD }) });
    expect(response.status).toBe(201);
    return ((await response.json()) as { token: string }).token;
  }

  async function liveFeed(coordinator: RunningCoordinator, token: string): Promise<Socket> {
    const socket = io(`${coordinator.url}/admin`, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    return socket;
  }

  /** Why the feed ended, or that it is still open after a wait far below the minute of the periodic check of tokens. */
  const ended = (socket: Socket) =>
    new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('still open after 10 s'), 10_000);
      socket.once('disconnect', (reason) => (clearTimeout(timer), resolve(reason)));
    });

  it('knows on one, at once, that a participant it had read as approved was revoked on the other', async () => {
    const keys = await registerParticipant(AdminApi.of(a), 'bank-stale');
    const onB = AdminApi.of(b);
    // B reads the participant's record (and keeps it): approving an approved participant is refused
    expect(await onB.request('POST', '/api/participants/bank-stale/approve', {})).toMatchObject({ status: 409 });
    const { socket, refused } = await connectRaw(b.url, handshakeAuth(keys));
    sockets.push(socket);
    expect(refused).toBeUndefined();
    const told = new Promise<ErrorBody>((resolve) => socket.once('closing', resolve));
    expect((await AdminApi.of(a).request('POST', '/api/participants/bank-stale/revoke', { reason: 'left' })).status).toBe(200);
    // B heard of it (it closed the connection it held) and reads the record anew: revoking it again there is a conflict
    expect(await told).toMatchObject({ code: 'REVOKED' });
    const again = await onB.request('POST', '/api/participants/bank-stale/revoke', { reason: 'twice' });
    expect(again).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT', message: 'participant bank-stale is revoked: it cannot be revoked' } } });
    // and its next handshake is refused there
    const next = await connectRaw(b.url, handshakeAuth(keys));
    sockets.push(next.socket);
    expect(next.refused).toMatchObject({ code: 'REVOKED' });
  });

  it.each([
    ['the replica that does not lead the job', 'other'],
    ['the replica that leads it', 'leader'],
  ] as const)("leaves out of its round the accepted update of a participant revoked on %s, keeps the updates other sites sent, and every log verifies", async (_, where) => {
    // Prepare: B holds an agent with a journal and a site to be revoked, A a slow site: whichever leads the job, some updates are relayed to it
    const [siteHonest, siteRevoked, siteSlow] = ['site-honest', 'site-revoked', 'site-slow'].map((site) => `${site}-${where}`);
    const handSockets: Socket[] = [];
    const dataFile = path.join(DATA_DIR, 'breast_cancer.csv');
    const split = splitCsv(dataFile, 3, { seed: 5, holdout: 0, dir: tempDir('revoke') });
    const api = AdminApi.of(a);
    const dir = tempDir('revoke-agent');
    const keyFile = path.join(dir, 'key.json');
    const journal = path.join(dir, 'journal.jsonl');
    const honestKeys = writeKeyFile(keyFile);
    await api.registerParticipant(siteHonest, `${siteHonest} Ltd`, honestKeys.publicKey);
    /** A site spoken by hand: it answers the statistics request, and each train request as `train` says. */
    const handDriven = async (coordinator: RunningCoordinator, name: string, data: string, train: (message: TrainMessage, send: () => Promise<void>) => void) => {
      const keys = await registerParticipant(api, name);
      const { socket, refused } = await connectRaw(coordinator.url, handshakeAuth(keys));
      handSockets.push(socket);
      expect(refused).toBeUndefined();
      socket.on('statistics-request', async (request: StatisticsRequest) => {
        const statistics = computeStatistics((await loadLocalData(data, request.header.spec)).table, request.header.spec);
        const header = { type: 'statistics' as const, job: request.header.job, participant: name, nonce: randomNonce(), statistics };
        void emitWithAck(socket, 'statistics', { header, signature: signHeader('statistics', header, keys.secretKey) });
      });
      socket.on('train', (message: TrainMessage) =>
        train(message, async () => expect(await emitWithAck(socket, 'update', craftUpdate(message, name, keys))).toEqual({ ok: true })),
      );
    };
    const asked: string[] = [];
    let revokedSent!: () => void;
    const revokedAccepted = new Promise<void>((resolve) => (revokedSent = resolve));
    await handDriven(b, siteRevoked, split.parties[1], (_message, send) => void send().then(revokedSent));
    let slowSend: (() => Promise<void>) | undefined;
    await handDriven(a, siteSlow, split.parties[2], (message, send) => {
      asked.push(`${siteSlow} round ${message.header.round}`);
      // Round 1's update waits for the revocation; any request after it is answered at once.
      if (asked.length === 1) slowSend = send;
      else void send();
    });
    const honest = await startAgent(b, siteHonest, split.parties[0], { keys: honestKeys, journalFile: journal });
    try {
      await eventually(() => api.participants(), (sites) => [siteHonest, siteRevoked, siteSlow].every((name) => sites.some((site) => site.name === name && site.online)));
      const job = await api.createJob({ model: 'logistic', features: featuresOf(dataFile, 'diagnosis'), target: 'diagnosis', rounds: 1, minParticipants: 2, evaluateEvery: 0 });
      const [leader, other] = await eventually(() => [a, b].sort((x) => (x.engine.leads(job.id) ? -1 : 1)), ([first]) => first.engine.leads(job.id));
      // the honest site's and the one to be revoked's updates of round 1 are accepted (acknowledged); the slow site's waits
      await revokedAccepted;
      await eventually(() => slowSend, (send) => send !== undefined);
      await eventually(() => readJournal(journal), (entries) => entries.some((e) => e.job === job.id && e.round === 1 && e.accepted === true));
      // Execute: an admin revokes the site on one replica; then the slow site sends its update and round 1 closes
      const revoking = where === 'leader' ? leader : other;
      expect((await AdminApi.of(revoking).request('POST', `/api/participants/${siteRevoked}/revoke`, { reason: 'dishonest' })).status).toBe(200);
      await slowSend!();
      await leader.engine.whenFinished(job.id);
      // Assert: round 1 is made of the two other sites' updates, each asked for once: the honest site's is the one it was told was accepted
      expect(await api.job(job.id)).toMatchObject({ status: 'completed', round: 1 });
      const [round] = await api.rounds(job.id);
      expect(round.contributors.map((c) => c.participant).sort()).toEqual([siteHonest, siteSlow]);
      const sent = readJournal(journal).filter((e) => e.job === job.id);
      expect(sent.map((e) => [e.round, e.accepted])).toEqual([[1, true]]);
      expect(asked).toEqual([`${siteSlow} round 1`]);
      expect(round.failures).toEqual([expect.objectContaining({ participant: siteRevoked, code: 'REVOKED' })]);
      const records = (await query<{ record: string }>(b.config.databaseUrl!, 'SELECT record FROM audit ORDER BY seq')).map(({ record }) => JSON.parse(record) as { kind: string; data: Record<string, unknown> });
      const committed = records.find((r) => r.kind === 'model.committed' && r.data.job === job.id)!;
      expect(committed.data.contributors).toContainEqual(expect.objectContaining({ participant: siteHonest, sha256: sent[0].sha256 }));
      // Assert: the coordinator's log verifies, recomputing the round; so do the honest site's check of it against its journal, and the independent verifier
      const verified = await runToEnd(COORDINATOR_CLI, ['audit', 'verify', '--data-dir', a.config.dataDir, '--database-url', b.config.databaseUrl!]);
      expect(verified).toContain(`job ${job.id}: 1 round, 1 recomputed`);
      const bundle = path.join(dir, 'bundle');
      await runToEnd(COORDINATOR_CLI, ['audit', 'export', '--data-dir', a.config.dataDir, '--database-url', b.config.databaseUrl!, '--out', bundle]);
      const checked = await runToEnd(AGENT_CLI, ['audit', 'verify', bundle, '--key', keyFile, '--coordinator-key', a.identity.publicKey]);
      expect(checked).toContain('your 1 accepted update is in the bundle unaltered; 1 was folded into committed models');
      const independent = await promisify(execFile)(PYTHON, [PY_VERIFIER, bundle, '--key', a.identity.publicKey]);
      expect(independent.stdout).toMatch(/^OK$/m);
    } finally {
      honest.stop();
      handSockets.forEach((socket) => socket.close());
    }
  });

  it('closes on one, at once, the live feed of a session signed out on the other, and no other feed', async () => {
    const session = await signedIn('una');
    const feed = await liveFeed(b, session);
    const other = await liveFeed(b, ADMIN_TOKEN);
    const end = ended(feed);

    const signedOut = await call('DELETE', '/api/session', session);

    expect(signedOut.status).toBe(204);
    expect(await end).toBe('io server disconnect');
    expect(other.connected).toBe(true);
  });

  it('closes on one, at once, the live feed of an API token revoked on the other', async () => {
    const { body: made } = await call<{ id: string; token: string }>('POST', '/api/tokens', await signedIn('otto'), { label: 'wall screen' });
    const feed = await liveFeed(b, made.token);
    const end = ended(feed);

    const revoked = await call('DELETE', `/api/tokens/${made.id}`, ADMIN_TOKEN);

    expect(revoked.status).toBe(204);
    expect(await end).toBe('io server disconnect');
  });

  it('closes on one, at once, the live feed of a user removed on the other', async () => {
    const feed = await liveFeed(b, await signedIn('rita'));
    const end = ended(feed);

    const removed = await call('DELETE', '/api/users/rita', ADMIN_TOKEN);

    expect(removed.status).toBe(204);
    expect(await end).toBe('io server disconnect');
  });
});
