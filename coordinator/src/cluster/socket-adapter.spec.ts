/**
 * Three Socket.IO servers sharing the real Redis at 127.0.0.1:6379 through the
 * coordinator's adapter, each with the agent connections and the relay of a
 * replica (the first leads job-1, the others run no job), under a prefix of
 * this run's own, removed at the end. What crosses Redis is watched by a
 * client subscribed to every channel of the adapter.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Redis from 'ioredis';
import { Server } from 'socket.io';
import { io, type Socket as ClientSocket } from 'socket.io-client';
import { ackOk, AGENT_NAMESPACE, type Ack } from '@fl/shared';
import { AgentConnections, type AgentSocket } from '../participants/connections';
import { ManualClock } from '../core/clock';
import { AgentRelay, RELAY_ANSWER_TIMEOUT_MS, type RelayedEngine, type RelayOptions } from './agent-relay';
import { SILENT_REPLICA_MS } from './leader-election';
import { RedisSharedState } from './redis-shared-state';
import { socketRooms, type SocketRooms } from './socket-adapter';

jest.setTimeout(60_000);

const REDIS_URL = 'redis://127.0.0.1:6379';
/** The adapter library's own answer timeout, which the coordinator raises. */
const LIBRARY_TIMEOUT_MS = 5_000;

interface Replica {
  state: RedisSharedState;
  rooms: SocketRooms;
  http: HttpServer;
  server: Server;
  connections: AgentConnections;
  relay: AgentRelay;
  url: string;
}

/** A replica's Socket.IO server, agent connections and relay over Redis, under `prefix`; its agents name themselves in the handshake. */
async function startReplica(prefix: string, engine: RelayedEngine, options: RelayOptions = {}): Promise<Replica> {
  const state = await RedisSharedState.connect(REDIS_URL, { prefix, onError: () => undefined });
  const rooms = socketRooms(state, prefix);
  const http = createServer();
  const server = new Server(http, { transports: ['websocket'] });
  rooms.attach(server);
  const connections = new AgentConnections();
  const relay = new AgentRelay(connections, true, options);
  const namespace = server.of(AGENT_NAMESPACE);
  namespace.on('connection', (raw) => {
    const socket = raw as unknown as AgentSocket;
    socket.data = { ...socket.data, participant: String(socket.handshake.auth.name), setups: new Set() };
    connections.add(socket.data.participant, socket);
    socket.emit('welcome', null as never);
  });
  relay.attach(namespace, engine);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return { state, rooms, http, server, connections, relay, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
}

/** An agent named `name` connected to the replica, once welcomed; kept in `clients` to be closed at the end. */
async function connectAgent(to: Replica, name: string, clients: ClientSocket[]): Promise<ClientSocket> {
  const client = io(to.url + AGENT_NAMESPACE, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { name } });
  clients.push(client);
  await new Promise<void>((resolve) => client.once('welcome', () => resolve()));
  return client;
}

async function stopReplica(r: Replica): Promise<void> {
  r.relay.onModuleDestroy();
  await new Promise<void>((resolve) => r.server.close(() => resolve()));
  await r.rooms.close();
  await r.state.close();
}

/** An engine that runs no job. */
const quiet: RelayedEngine = {
  participantOnline: () => undefined,
  participantOffline: () => undefined,
  leads: () => false,
  relayed: () => Promise.reject(new Error('this replica runs no job')),
};

describe("the replicas' Socket.IO adapter over Redis", () => {
  const prefix = `fl-test:${randomUUID()}:`;
  const replicas: Replica[] = [];
  const clients: ClientSocket[] = [];
  /** how the leader's engine answers a relayed message */
  let leaderAnswer: (participant: string, body: unknown) => Promise<Ack> = async () => ackOk;
  let watcher: Redis;
  /** the jobs the third replica, which runs none, was asked about, and the bodies it was handed */
  const askedOfBystander: string[] = [];
  const handedToBystander: unknown[] = [];
  /** the adapter's messages (channel and text), in the order Redis delivered them */
  const seen: { channel: string; text: string }[] = [];

  // A clock that never moves: no replica here says it is alive again on a timer, so what one learns comes from the messages under test.
  const replica = (engine: RelayedEngine) => startReplica(prefix, engine, { clock: new ManualClock() });

  const connect = (to: Replica, name: string) => connectAgent(to, name, clients);

  /** Waits until Redis has delivered everything published before now on `via`'s connection, then returns what was seen. */
  async function flushed(via: Replica): Promise<{ channel: string; text: string }[]> {
    const marker = `${prefix}marker:${randomUUID()}`;
    const arrived = new Promise<void>((resolve) => watcher.on('pmessage', (_pattern, channel) => channel === marker && resolve()));
    await via.state.client.publish(marker, '');
    await arrived;
    return seen.splice(0).filter(({ channel }) => channel !== marker);
  }

  beforeAll(async () => {
    watcher = new Redis(REDIS_URL);
    watcher.on('pmessage', (_pattern, channel: string, text: string) => seen.push({ channel, text }));
    await watcher.psubscribe(`${prefix}*`);
    const leader: RelayedEngine = {
      ...quiet,
      leads: (job) => job === 'job-1',
      relayed: (participant, _event, body) => leaderAnswer(participant, body),
    };
    const bystander: RelayedEngine = {
      ...quiet,
      leads: (job) => {
        askedOfBystander.push(job);
        return false;
      },
      relayed: (participant, event, body) => {
        handedToBystander.push(body);
        return quiet.relayed(participant, event, body);
      },
    };
    for (const engine of [leader, quiet, bystander]) replicas.push(await replica(engine));
  });

  afterAll(async () => {
    clients.forEach((c) => c.close());
    for (const r of replicas) await stopReplica(r);
    const keys = await watcher.keys(`${prefix}*`);
    if (keys.length) await watcher.del(...keys);
    watcher.disconnect();
  });

  it("sends a request to this replica's own agents without publishing it to the others", async () => {
    const [here] = replicas;
    const agents = await Promise.all(['site-a', 'site-b'].map((name) => connect(here, name)));
    const received = Promise.all(agents.map((agent) => new Promise<unknown>((resolve) => agent.once('statistics-request', resolve))));
    await flushed(here);
    expect(here.connections.broadcast(['site-a', 'site-b'], 'statistics-request', { header: 'h', signature: 's' } as never)).toEqual([]);
    expect(await received).toEqual([{ header: 'h', signature: 's' }, { header: 'h', signature: 's' }]);
    // Nothing went out on the adapter's broadcast channels: the other replica has no such sockets.
    expect((await flushed(here)).filter(({ channel }) => channel.startsWith(`${prefix}socket.io#`))).toEqual([]);
  });

  it("answers a relayed message with the leader's ack, even after longer than the library's timeout", async () => {
    const [, there] = replicas;
    const answer: Ack = { ok: false, error: { code: 'NOT_SELECTED', message: 'from the leader' } };
    const afterMs = LIBRARY_TIMEOUT_MS + 1_000;
    expect(RELAY_ANSWER_TIMEOUT_MS).toBeGreaterThan(afterMs);
    let asked!: () => void;
    const leaderAsked = new Promise<void>((resolve) => (asked = resolve));
    let answerNow!: () => void;
    const answered = new Promise<void>((resolve) => (answerNow = resolve));
    leaderAnswer = async () => {
      asked();
      await answered;
      return answer;
    };
    // The timeouts set from now on (the library's among them) run on Jest's clock, moved past the library's while the leader holds its answer.
    jest.useFakeTimers({ doNotFake: ['Date', 'hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval'] });
    try {
      const ack = there.relay.relay('site-a', 'update', { header: { job: 'job-1' } });
      await leaderAsked;
      jest.advanceTimersByTime(afterMs);
      answerNow();
      expect(await ack).toEqual(answer);
    } finally {
      jest.useRealTimers();
    }
  });

  it('relays the messages received together in one request, each answered with its own ack, bytes intact', async () => {
    const [, there] = replicas;
    const bodies = new Map<string, unknown>();
    leaderAnswer = async (participant, body) => {
      bodies.set(participant, body);
      return { ok: false, error: { code: 'NOT_SELECTED', message: `to ${participant}` } };
    };
    await flushed(there);
    const names = ['site-1', 'site-2', 'site-3'];
    const acks = await Promise.all(names.map((name, i) => there.relay.relay(name, 'update', { header: { job: 'job-1' }, weights: new Uint8Array([i, 255]) })));
    expect(acks).toEqual(names.map((name) => ({ ok: false, error: { code: 'NOT_SELECTED', message: `to ${name}` } })));
    const requests = (await flushed(there)).filter(({ channel, text }) => channel.startsWith(`${prefix}socket.io-request#`) && text.includes('fl:relay'));
    expect(requests).toHaveLength(1);
    expect(bodies.get('site-3')).toEqual({ header: { job: 'job-1' }, weights: Buffer.from([2, 255]) });
  });

  it("leaves a relayed message undecoded on a replica that does not run its job, while the leader gets it and answers", async () => {
    const [, there] = replicas;
    const weights = new Uint8Array(randomBytes(32));
    const base64 = Buffer.from(weights).toString('base64');
    let received: unknown;
    leaderAnswer = async (_participant, body) => {
      received = body;
      return ackOk;
    };
    askedOfBystander.length = 0;
    handedToBystander.length = 0;
    // Every replica in this test runs in this process: each decode of the attachment is a call to Buffer.from with its text.
    const from = jest.spyOn(Buffer, 'from');
    try {
      expect(await there.relay.relay('site-a', 'update', { header: { job: 'job-1' }, weights })).toEqual(ackOk);
      expect(received).toEqual({ header: { job: 'job-1' }, weights: Buffer.from(weights) });
      expect(from.mock.calls.filter((args: unknown[]) => args[0] === base64 && args[1] === 'base64')).toHaveLength(1);
    } finally {
      from.mockRestore();
    }
    // The third replica saw the message (asked about its job) and answered null without decoding it.
    expect(askedOfBystander).toEqual(['job-1']);
    expect(handedToBystander).toEqual([]);
  });

  it('lets a replica that starts later learn at once who is connected to the others', async () => {
    // Prepare: an agent on the first replica, before the new one exists (so no presence message reaches it)
    await connect(replicas[0], 'early-bird');
    const online: string[] = [];
    let learnt!: () => void;
    const learning = new Promise<void>((resolve) => (learnt = resolve));
    // Execute: a fourth replica joins; its relay asks the others who they hold as it starts
    const late = await replica({
      participantOnline: (name) => {
        online.push(name);
        if (name === 'early-bird') learnt();
      },
      participantOffline: () => undefined,
      leads: () => false,
      relayed: () => Promise.reject(new Error('this replica runs no job')),
    });
    replicas.push(late);
    // Assert: the others' answer to its hello (their clocks stand still: no timer would tell it later)
    await learning;
    expect(online).toContain('early-bird');
  }, 20_000);
});

describe('replicas that stop, or go silent', () => {
  const prefix = `fl-test:${randomUUID()}:`;
  /** the clock of the replicas that run; a silent one keeps its own, which never moves (no timer of it fires) */
  const clock = new ManualClock();
  const replicas: Replica[] = [];
  const clients: ClientSocket[] = [];
  const errors: string[] = [];
  const offline: string[] = [];
  let leader: Replica;
  let other: Replica;
  /** the jobs the second replica runs */
  const otherLeads = new Set<string>();
  /** undoes the silences, so that the silent replicas can close */
  const wakes: (() => void)[] = [];

  /** A replica whose clock stands still and that reads nothing more from Redis, as a frozen process: once the others know of it through its agent. */
  async function silentReplica(engine: RelayedEngine, agent: string): Promise<Replica> {
    const silent = await startReplica(prefix, engine, { clock: new ManualClock() });
    replicas.push(silent);
    await connect(silent, agent);
    await eventuallyTrue(() => leader.relay.isOnline(agent) && other.relay.isOnline(agent));
    const { stream } = (silent.server.of(AGENT_NAMESPACE).adapter as unknown as { subClient: { stream: { pause(): void; resume(): void } } }).subClient;
    stream.pause();
    wakes.push(() => void stream.resume());
    return silent;
  }

  const connect = (to: Replica, name: string) => connectAgent(to, name, clients);

  /** Moves the running replicas' clock by a third of a silence, and lets what they then say cross Redis. */
  async function tick(): Promise<void> {
    clock.advance(SILENT_REPLICA_MS / 3);
    for (const r of [leader, other]) await r.state.client.ping();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  beforeAll(async () => {
    leader = await startReplica(prefix, {
      ...quiet,
      participantOffline: (name) => offline.push(name),
      leads: (job) => job === 'job-1',
      relayed: async () => ackOk,
    }, { clock });
    other = await startReplica(
      prefix,
      {
        ...quiet,
        leads: (job) => otherLeads.has(job),
        relayed: async () => ({ ok: false, error: { code: 'NOT_SELECTED', message: 'from the new leader' } }),
      },
      { clock, onError: (err) => errors.push((err as Error).message) },
    );
    replicas.push(leader, other);
  });

  afterAll(async () => {
    clients.forEach((c) => c.close());
    wakes.forEach((wake) => wake());
    for (const r of replicas) await stopReplica(r);
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it("forgets a silent replica's agents after a silence, and answers relayed messages without waiting for it", async () => {
    // Prepare: a third replica with an agent, then frozen
    await silentReplica(quiet, 'site-s');
    // Execute and assert: the leader's ack comes at once, without the silent replica's answer
    expect(await other.relay.relay('site-o', 'update', { header: { job: 'job-1' } })).toEqual(ackOk);
    // A message of no job waits for the silent replica's answer until it is forgotten
    let unknown: Ack | undefined;
    void other.relay.relay('site-o', 'update', { header: { job: 'job-none' } }).then((ack) => (unknown = ack));
    await tick();
    await tick();
    expect(unknown).toBeUndefined();
    expect(leader.relay.isOnline('site-s')).toBe(true);
    await tick();
    await tick();
    expect(unknown).toMatchObject({ ok: false, error: { code: 'UNKNOWN_JOB' } });
    expect(leader.relay.isOnline('site-s')).toBe(false);
    expect(offline).toContain('site-s');
    expect(errors).toContainEqual(expect.stringMatching(/was not heard from for 15 s: its agents count as offline until they connect again/));
    // The running replicas still hear each other
    expect(await other.relay.relay('site-o', 'update', { header: { job: 'job-1' } })).toEqual(ackOk);
  });

  it('answers on the replica that takes a job the messages of it still waiting on the old leader', async () => {
    // Prepare: the leader of job-2 goes silent while a message of job-2 waits on its answer
    await silentReplica({ ...quiet, leads: (job) => job === 'job-2' }, 'site-l');
    let ack: Ack | undefined;
    void other.relay.relay('site-o', 'update', { header: { job: 'job-2' } }).then((answer) => (ack = answer));
    await tick();
    expect(ack).toBeUndefined();
    // Execute: the second replica takes job-2, as its round engine does once it holds the leadership
    otherLeads.add('job-2');
    other.relay.leading('job-2');
    // Assert: the message has the new leader's answer, long before the old one would be forgotten
    await eventuallyTrue(() => ack !== undefined);
    expect(ack).toEqual({ ok: false, error: { code: 'NOT_SELECTED', message: 'from the new leader' } });
  });

  it("forgets a stopped replica's agents at once, without a warning", async () => {
    const stopping = await startReplica(prefix, quiet, { clock });
    await connect(stopping, 'site-t');
    await eventuallyTrue(() => leader.relay.isOnline('site-t'));
    // The replicas left silent by the tests before are forgotten first
    for (let i = 0; i < 4; i++) await tick();
    errors.length = 0;
    // The agent's connection is left open: only the replica's goodbye tells the others
    stopping.relay.onModuleDestroy();
    await eventuallyTrue(() => !leader.relay.isOnline('site-t') && !other.relay.isOnline('site-t'));
    // What it publishes as it closes (its agents going) does not bring it back, to be forgotten again after a silence, with a warning
    stopping.connections.events.emit('presence', { name: 'site-t', online: false, lastSeen: Date.now() });
    await stopReplica(stopping);
    for (let i = 0; i < 4; i++) await tick();
    expect(errors).toEqual([]);
  });
});

/** Polls until `check` holds (the test's timeout bounds the wait). */
async function eventuallyTrue(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe("a replica's Socket.IO adapter as the replica closes", () => {
  it('lets the adapter publish after its connection to Redis closed (a presence, an ack owed to another replica) without an unhandled rejection', async () => {
    // Prepare: a replica whose adapter is attached, then closed in the coordinator's order
    const prefix = `fl-test:${randomUUID()}:`;
    const errors: unknown[] = [];
    const state = await RedisSharedState.connect(REDIS_URL, { prefix, onError: (err) => errors.push(err) });
    const rooms = socketRooms(state, prefix);
    const server = new Server(createServer());
    rooms.attach(server);
    const agents = server.of(AGENT_NAMESPACE);
    await server.close();
    await rooms.close();
    await state.close();
    // Execute: the adapter publishes after the close
    agents.serverSideEmit('fl:presence', 'replica', 'site-a', false, Date.now());
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Assert: Jest fails a test on an unhandled rejection (which ends a Node process with 1); nothing reported as a running replica's error either
    expect(errors).toEqual([]);
  });
});
