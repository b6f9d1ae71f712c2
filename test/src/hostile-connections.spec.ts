/**
 * Connections that try to cost the coordinator memory or time, over real
 * sockets written by hand: strangers that announce large frames or attachments
 * before authenticating, participants that announce attachments and never send
 * the last, sockets parked in the default namespace `/`. Each is closed, the
 * coordinator's memory stays near where it started, and an honest job run
 * alongside completes. Then the bounds on connections that have not
 * authenticated yet, with the clock moved by hand, and a stop that clients
 * holding requests half sent cannot hold for ever.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { ManualClock, REQUEST_GRACE_MS, type RunningCoordinator } from '@fl/coordinator';
import { AGENT_NAMESPACE, type ErrorBody, type JobView } from '@fl/shared';
import type { ParticipantAgent } from '@fl/participant-agent';
import { connectRaw, handshakeAuth, HandWebSocket } from './raw-client';
import { AdminApi, DATA_DIR, eventually, featuresOf, registerParticipant, splitCsv, startAgent, tempDir, testCoordinator } from './harness';
import { startCoordinatorProcess, type Running } from './processes';

jest.setTimeout(300_000);

const FILE = `${DATA_DIR}/breast_cancer.csv`;
const TOKEN = 'hostile-admin-token-0123456789';
const MiB = 1024 * 1024;

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** A binary event for /agents whose text announces `count` attachments, Socket.IO's way. */
const announcing = (count: number) =>
  `45${count}-${AGENT_NAMESPACE},${JSON.stringify(['update', { weights: Array.from({ length: count }, (_, num) => ({ _placeholder: true, num })) }])}`;

describe('connections that try to pin memory, while an honest job runs', () => {
  let coordinator: Running & { url: string };
  let api: AdminApi;
  const agents: ParticipantAgent[] = [];
  let job: JobView;
  const rss = { before: 0, max: 0, after: 0 };
  const outcomes: Record<string, { closed: number; of: number; sentMax: number }> = {};

  beforeAll(async () => {
    const dir = tempDir('hostile');
    coordinator = await startCoordinatorProcess([
      '--data-dir', `${dir}/coordinator`, '--admin-token', TOKEN, '--log-level', 'warn',
      // Participants' frames up to 4 MiB, unfinished packets up to 4 MiB a connection and 8 MiB in all.
      '--max-frame-bytes', String(4 * MiB), '--max-unfinished-bytes', String(8 * MiB),
    ]);
    api = new AdminApi(coordinator.url, TOKEN);
    const coordinatorKey = ((await (await fetch(`${coordinator.url}/api/health`)).json()) as { coordinatorKey: string }).coordinatorKey;
    const fake = { url: coordinator.url, identity: { publicKey: coordinatorKey }, adminToken: TOKEN } as never;
    const split = splitCsv(FILE, 2, { seed: 5, holdout: 0, dir });
    for (const [i, part] of split.parties.entries()) agents.push(await startAgent(fake, `honest-${i + 1}`, part, { keys: await registerParticipant(api, `honest-${i + 1}`) }));
    const hoarders = await Promise.all([1, 2].map((i) => registerParticipant(api, `hoarder-${i}`)));
    const pid = coordinator.child.pid!;
    job = await api.createJob({
      model: 'logistic',
      features: featuresOf(FILE, 'diagnosis'),
      target: 'diagnosis',
      rounds: 10,
      minParticipants: 2,
      waitAfterMinimumSeconds: 0,
      evaluateEvery: 0,
    });
    // The starting figure once the job runs: what a round costs is not the attack's.
    await eventually(() => api.job(job.id), (j: JobView) => j.round >= 1);
    rss.before = rssMb(pid);
    const sample = setInterval(() => (rss.max = Math.max(rss.max, rssMb(pid))), 100);

    const attack = async (name: string, sockets: HandWebSocket[], send: (ws: HandWebSocket) => Promise<void>) => {
      await Promise.all(sockets.map(send));
      await Promise.all(sockets.map((s) => s.closed));
      outcomes[name] = { closed: sockets.filter((s) => !s.isOpen).length, of: sockets.length, sentMax: Math.max(...sockets.map((s) => s.sent)) };
    };
    const opened = (count: number) => Promise.all(Array.from({ length: count }, () => HandWebSocket.open(coordinator.url)));
    // Registered participants, authenticated, that will announce ten 4 MiB attachments and send nine.
    const authenticated = await Promise.all(
      hoarders.map(async (keys) => {
        const ws = await HandWebSocket.open(coordinator.url);
        await ws.sendText(`40${AGENT_NAMESPACE},${JSON.stringify(handshakeAuth(keys))}`);
        await ws.waitFor((t) => t.startsWith(`42${AGENT_NAMESPACE},["welcome"`));
        return ws;
      }),
    );
    const unfinished = async (ws: HandWebSocket) => {
      await ws.sendText(announcing(10));
      for (let i = 0; i < 9; i++) await ws.sendBinary(4 * MiB);
    };
    try {
      await Promise.all([
        ...authenticated.map((ws, i) => attack(`unfinished attachments, authenticated ${i + 1}`, [ws], unfinished)),
        // Strangers announcing ten 4 MiB attachments and sending nine, without ever authenticating.
        opened(8).then((sockets) => attack('unfinished attachments, unauthenticated', sockets, unfinished)),
        // A stranger's single 48 MiB frame, the kind that held the event loop.
        opened(4).then((sockets) => attack('one large frame, unauthenticated', sockets, (ws) => ws.sendBinary(48 * MiB))),
        // 300 sockets that join the default namespace and pour 36 MiB each into it (past the bound of 64 per address, refused at once).
        opened(300).then((sockets) =>
          attack('the default namespace', sockets, async (ws) => {
            await ws.sendText('40');
            await ws.sendBinary(36 * MiB);
          }),
        ),
      ]);
      job = await eventually(() => api.job(job.id), (j: JobView) => ['completed', 'failed', 'stopped'].includes(j.status), 240_000);
    } finally {
      clearInterval(sample);
    }
    rss.after = rssMb(pid);
    if (process.env.FL_TEST_FIGURES) process.stdout.write(`${JSON.stringify({ rss, outcomes })}\n`);
  });
  afterAll(() => {
    agents.forEach((a) => a.stop());
    coordinator?.child.kill('SIGTERM');
  });

  it('closes every one of them, long before it has sent what it announced', () => {
    expect(outcomes).toEqual({
      'unfinished attachments, unauthenticated': { closed: 8, of: 8, sentMax: expect.any(Number) },
      'one large frame, unauthenticated': { closed: 4, of: 4, sentMax: expect.any(Number) },
      'the default namespace': { closed: 300, of: 300, sentMax: expect.any(Number) },
      'unfinished attachments, authenticated 1': { closed: 1, of: 1, sentMax: expect.any(Number) },
      'unfinished attachments, authenticated 2': { closed: 1, of: 1, sentMax: expect.any(Number) },
    });
    // Before authenticating, a connection may send 16 KiB: it is cut within a few pieces of that, whatever it announced.
    for (const name of ['unfinished attachments, unauthenticated', 'one large frame, unauthenticated', 'the default namespace']) {
      expect({ name, below: outcomes[name].sentMax < 8 * MiB }).toEqual({ name, below: true });
    }
    // Authenticated, it holds at most 4 MiB of unfinished attachments: cut at the second 4 MiB of nine, give or take what the sockets buffer.
    expect(outcomes['unfinished attachments, authenticated 1'].sentMax).toBeLessThan(24 * MiB);
  });

  it("keeps the coordinator's memory within 50 MB of where it started", () => {
    expect(rss.after - rss.before).toBeLessThan(50);
    expect(rss.max - rss.before).toBeLessThan(50);
  });

  it('lets the honest job complete alongside', async () => {
    expect(job.status).toBe('completed');
    expect(coordinator.child.exitCode).toBeNull();
    const rounds = await api.rounds(job.id);
    expect(rounds).toHaveLength(10);
  });

  it('logs why, one line each, without the stack of a fault', () => {
    const log = coordinator.output();
    expect(log).toMatch(/closed a connection from \S+: sent \d+ bytes before authenticating, over 16384/);
    expect(log).toMatch(/closed a connection from \S+: unfinished attachments of \d+ bytes on one connection, over its 4194304/);
    expect(log).not.toMatch(/ error /);
  });
});

describe('connections that have not authenticated yet', () => {
  let coordinator: RunningCoordinator;
  const clock = new ManualClock();
  const opened: { close(): void }[] = [];

  beforeAll(async () => {
    coordinator = await testCoordinator({ handshakeTimeoutSeconds: 5, maxPendingConnectionsPerAddress: 3, maxPendingConnections: 5 }, clock);
  });
  afterEach(() => {
    opened.splice(0).forEach((s) => s.close());
    clock.advance(5_000);
  });
  afterAll(() => coordinator?.close());

  const hand = async (localAddress?: string) => {
    const ws = await HandWebSocket.open(coordinator.url, localAddress);
    opened.push(ws);
    return ws;
  };

  it('are refused in the default namespace, and closed when they have not authenticated within the deadline', async () => {
    const sockets = await Promise.all([1, 2, 3].map(() => hand()));
    await Promise.all(sockets.map((ws) => ws.sendText('40')));
    const refusals = await Promise.all(sockets.map((ws) => ws.waitFor((t) => t.startsWith('44'))));
    expect(refusals.map((r) => (JSON.parse(r.slice(2)) as { data: ErrorBody }).data.code)).toEqual(['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND']);
    expect(coordinator.admission.pendingCount).toBe(3);
    clock.advance(4_999);
    expect(sockets.every((ws) => ws.isOpen)).toBe(true);
    clock.advance(1);
    await Promise.all(sockets.map((ws) => ws.closed));
    expect(coordinator.admission.pendingCount).toBe(0);
  });

  it('are bounded per address and in all; an authenticated connection is not one of them, and outlives the deadline', async () => {
    const keys = await registerParticipant(AdminApi.of(coordinator), 'patient');
    const agent = await connectRaw(coordinator.url, handshakeAuth(keys));
    opened.push(agent.socket);
    expect(agent.refused).toBeUndefined();
    const fromOne = await Promise.all([1, 2, 3, 4].map(() => hand('127.0.0.1')));
    // Engine.IO answers a refused upgrade 400.
    expect(fromOne.map((s) => s.refusedStatus)).toEqual([undefined, undefined, undefined, 400]);
    // Another address may still come in, until the bound in all (5) is reached.
    expect((await hand('127.0.0.2')).refusedStatus).toBeUndefined();
    expect((await hand('127.0.0.3')).refusedStatus).toBeUndefined();
    expect((await hand('127.0.0.4')).refusedStatus).toBe(400);
    expect(coordinator.admission.pendingCount).toBe(5);
    // At the deadline the five go; the agent that authenticated stays.
    const gone = Promise.all(opened.filter((s): s is HandWebSocket => s instanceof HandWebSocket && s.refusedStatus === undefined).map((s) => s.closed));
    clock.advance(5_000);
    await gone;
    expect(coordinator.admission.pendingCount).toBe(0);
    expect(agent.socket.connected).toBe(true);
    expect((await hand('127.0.0.1')).refusedStatus).toBeUndefined();
  });
});

/** A TCP connection to the coordinator's port that sends what it is given, and gathers what comes back. */
function rawConnection(port: number): Promise<{ socket: net.Socket; received: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString('utf8')));
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('error', reject);
    socket.once('connect', () => resolve({ socket, received: () => received, closed }));
  });
}

describe('a coordinator that stops while clients hold requests half sent', () => {
  it('refuses new connections, answers a request finished meanwhile 503, cuts one never finished once the grace is over, and ends its stop', async () => {
    // Prepare: two connections that sent part of a request's headers
    const clock = new ManualClock();
    const coordinator = await testCoordinator({}, clock);
    const accepted: net.Socket[] = [];
    (coordinator.app.getHttpServer() as net.Server).on('connection', (socket: net.Socket) => accepted.push(socket));
    const half = 'GET /api/health HTTP/1.1\r\nHost: coordinator\r\n';
    const [finishing, never] = await Promise.all([rawConnection(coordinator.port), rawConnection(coordinator.port)]);
    finishing.socket.write(half);
    never.socket.write(half);
    // Read by the server: a connection that has sent nothing yet is idle, and closed at once by the stop.
    await eventually(() => accepted.map((socket) => socket.bytesRead), (read) => read.length === 2 && read.every((n) => n === half.length));
    // Execute: the stop, as on SIGTERM
    const stopped = coordinator.close();
    // Assert: the port takes nobody new; a request finished now reaches no handler, and its connection closes
    await expect(rawConnection(coordinator.port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    finishing.socket.write('\r\n');
    await finishing.closed;
    expect(finishing.received()).toMatch(/^HTTP\/1\.1 503 [\s\S]*connection: close[\s\S]*"code":"COORDINATOR_RESTARTING"/i);
    // The other holds the stop (the server's close waits for its connections) until the grace is over.
    clock.advance(REQUEST_GRACE_MS - 1);
    expect(never.socket.destroyed).toBe(false);
    clock.advance(1);
    await never.closed;
    expect(never.received()).toBe('');
    await stopped;
  });
});
