/**
 * Agents connected to any replica, as the round engine of a job's leader sees
 * them: the AgentChannel it sends through, and the way in for what agents send.
 * A request for an agent connected to another replica goes there through
 * Socket.IO's server-side events (the Redis adapter carries them, binary
 * included), and that replica sends it on the agent's own connection; an
 * agent's message for a job this replica does not run goes to the replica that
 * runs it, whose answer is the agent's ack. Which participants are connected
 * where is told the same way, and every replica says it is alive, with the
 * participants it holds, three times per SILENT_REPLICA_MS: one not heard from
 * for that long (stopped, frozen, cut off; Redis may keep its subscription for
 * minutes) loses its agents here, and relayed messages no longer wait for its
 * answer. In one process this is the connections themselves.
 */
import { randomUUID } from 'node:crypto';
import type { Namespace } from 'socket.io';
import { ackError, type Ack, type CoordinatorToAgentEvents, type ParticipantPresence, type SetupMessage } from '@fl/shared';
import { systemClock, type Clock } from '../core/clock';
import type { AgentChannel, Instruction } from '../rounds/agent-channel';
import type { AgentConnections } from '../participants/connections';
import { SILENT_REPLICA_MS } from './leader-election';

/** The agent messages the round engine takes. */
export type AgentEvent = 'statistics' | 'update' | 'evaluation' | 'failure' | 'secagg';

/** What this replica's round engine is told, and answers. */
export interface RelayedEngine {
  participantOnline(participant: string): void;
  participantOffline(participant: string): void;
  /** Whether this replica runs the job now. */
  leads(job: string): boolean;
  /** The ack of a message relayed from another replica, for a job this replica runs. */
  relayed(participant: string, event: AgentEvent, body: unknown): Promise<Ack>;
}

/** The job an agent's message names in its header: text, the same in the wire form as decoded. */
function jobOf(body: unknown): string | undefined {
  const job = (body as { header?: { job?: unknown } } | null)?.header?.job;
  return typeof job === 'string' ? job : undefined;
}

/**
 * Server-side events travel as JSON, which would turn bytes into arrays of
 * numbers: they go as base64 in a marked object instead, and come back as bytes.
 */
export function toWire(value: unknown, size?: { bytes: number }): unknown {
  if (value instanceof Uint8Array) {
    if (size) size.bytes += value.byteLength;
    return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  }
  if (Array.isArray(value)) return value.map((v) => toWire(v, size));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v, size)]));
  return value;
}

export function fromWire(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value && typeof value === 'object') {
    const bytes = (value as { $bytes?: unknown }).$bytes;
    if (typeof bytes === 'string' && Object.keys(value).length === 1) return Buffer.from(bytes, 'base64');
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromWire(v)]));
  }
  return value;
}

/**
 * How long a relayed message waits for the answers of the replicas alive when
 * it was sent: as long as an agent waits for the ack of its statistics, since
 * the ack is the job leader's answer (a busy leader may hold messages queued).
 */
export const RELAY_ANSWER_TIMEOUT_MS = 60_000;

/**
 * Agents' messages gathered into one request to the other replicas: those
 * received in the same turn of the event loop, up to this many or this many
 * bytes of binary. One request costs a Redis round trip (the adapter counts the
 * replicas first) and a publish, whatever it carries.
 */
export const RELAY_BATCH = { messages: 256, bytes: 16 * 2 ** 20 } as const;

/** A message on its way to the other replicas, and who waits for its ack. */
interface Outgoing {
  message: [participant: string, event: AgentEvent, body: unknown];
  resolve: (ack: Ack) => void;
  reject: (err: unknown) => void;
}

/** Messages sent to the other replicas together, waiting for their answers. */
interface Request {
  batch: Outgoing[];
  /** answered with a leader's ack */
  done: boolean[];
  /** the replicas alive when it was sent that have not answered */
  waiting: Set<string>;
  timer: unknown;
}

export interface RelayOptions {
  onError?: (err: unknown) => void;
  /** times the replicas' silences and the relayed messages' answers (tests move a manual one) */
  clock?: Clock;
}

export class AgentRelay implements AgentChannel {
  private namespace: Namespace | undefined;
  private engine: RelayedEngine | undefined;
  /** this replica, as the others know it */
  private readonly replica = randomUUID();
  /** participants connected to other replicas: name -> the replicas they are connected to */
  private readonly elsewhere = new Map<string, Set<string>>();
  /** when another replica last saw each participant come or go */
  private readonly seenElsewhere = new Map<string, number>();
  /** the other replicas, and when each was last heard from */
  private readonly heard = new Map<string, number>();
  /** replicas that said they stopped: what they publish as they close does not make them alive again */
  private readonly stopped = new Set<string>();
  private aliveTimer: unknown;
  private closed = false;
  /** messages to relay, sent together at the end of this turn of the event loop */
  private outgoing: Outgoing[] = [];
  private outgoingBytes = 0;
  private readonly requests = new Map<string, Request>();
  private readonly onError: (err: unknown) => void;
  private readonly clock: Clock;

  constructor(
    private readonly local: AgentConnections,
    /** false in one process: no other replica to reach */
    private readonly shared: boolean,
    options: RelayOptions = {},
  ) {
    this.onError = options.onError ?? (() => undefined);
    this.clock = options.clock ?? systemClock;
  }

  /** Wires the agents' namespace and the engine; with replicas, tells the others and learns from them. */
  attach(namespace: Namespace, engine: RelayedEngine): void {
    this.namespace = namespace;
    this.engine = engine;
    if (!this.shared) return;
    namespace.on('fl:presence', (replica: string, participant: string, online: boolean, at: number) => this.presence(replica, participant, online, at));
    namespace.on('fl:alive', (replica: string, online: string[], hello: boolean) => this.alive(replica, online, hello));
    namespace.on('fl:gone', (replica: string) => this.forget(replica, 'stopped'));
    namespace.on('fl:send', (participant: string, event: Instruction, args: unknown) => this.sendLocal(participant, event, fromWire(args) as unknown[]));
    namespace.on('fl:broadcast', (participants: string[], event: Instruction, args: unknown) =>
      this.broadcastLocal(participants, event, fromWire(args) as unknown[]),
    );
    namespace.on('fl:provide', (participants: string[], setup: unknown, digest: string) => this.local.provide(participants, fromWire(setup) as SetupMessage, digest));
    namespace.on('fl:relay', (from: string, request: string, messages: Outgoing['message'][]) => {
      const acks = messages.map(([participant, event, body]) => {
        // Every replica receives every relayed message: only the job's leader decodes its bytes, the others answer null.
        const job = jobOf(body);
        if (job === undefined || !engine.leads(job)) return null;
        return engine.relayed(participant, event, fromWire(body)).catch((err: unknown) => {
          this.onError(err);
          return ackError('INTERNAL', 'an unexpected error; the coordinator logged it');
        });
      });
      void Promise.all(acks).then((answered) => namespace.serverSideEmit('fl:answers', from, request, this.replica, answered));
    });
    namespace.on('fl:answers', (to: string, request: string, replica: string, acks: (Ack | null)[]) => {
      if (to === this.replica) this.answered(request, replica, acks);
    });
    this.local.events.on('presence', ({ name, online, lastSeen }: ParticipantPresence) => namespace.serverSideEmit('fl:presence', this.replica, name, online, lastSeen));
    // Said once the subscriptions are in place, so that the others' replies to the hello are heard.
    void subscribed(namespace).then(() => this.sayAlive(true));
  }

  onModuleDestroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.clock.clearTimeout(this.aliveTimer);
    // So that the others forget this replica now rather than after a silence.
    if (this.shared) this.namespace?.serverSideEmit('fl:gone', this.replica);
  }

  /** Tells the others this replica is alive and whom it holds; then, a third of a silence later, again, and forgets those gone silent. */
  private sayAlive(hello = false): void {
    if (this.closed) return;
    this.clock.clearTimeout(this.aliveTimer);
    this.namespace!.serverSideEmit('fl:alive', this.replica, this.local.online(), hello);
    for (const replica of this.heard.keys()) if (this.silent(replica)) this.forget(replica, 'silent');
    this.aliveTimer = this.clock.setTimeout(() => this.sayAlive(), SILENT_REPLICA_MS / 3);
  }

  /** Another replica is alive and holds these participants, no others; a new one (or one this replica had forgotten) hears back at once. */
  private alive(replica: string, online: string[], hello: boolean): void {
    const known = this.heard.has(replica);
    this.hear(replica);
    const holds = new Set(online);
    for (const name of holds) this.place(name, replica, true);
    for (const [name, replicas] of this.elsewhere) if (replicas.has(replica) && !holds.has(name)) this.place(name, replica, false);
    if (hello || !known) this.sayAlive();
  }

  /** A replica stopped, or not heard from for a whole silence: its participants are no longer online through it, and no answer is awaited from it. */
  private forget(replica: string, why: 'stopped' | 'silent'): void {
    if (why === 'stopped') this.stopped.add(replica);
    if (!this.heard.delete(replica)) return;
    for (const [name, replicas] of this.elsewhere) if (replicas.has(replica)) this.place(name, replica, false);
    for (const [id, request] of this.requests) if (request.waiting.delete(replica)) this.settle(id, request);
    if (why === 'silent') this.onError(new Error(`replica ${replica} was not heard from for ${SILENT_REPLICA_MS / 1000} s: its agents count as offline until they connect again`));
  }

  /** Not heard from for a whole silence (forgotten at the next tick). */
  private silent(replica: string): boolean {
    return this.clock.now() - this.heard.get(replica)! > SILENT_REPLICA_MS;
  }

  private hear(replica: string): void {
    if (!this.stopped.has(replica)) this.heard.set(replica, this.clock.now());
  }

  private presence(replica: string, participant: string, online: boolean, at: number): void {
    this.hear(replica);
    this.seenElsewhere.set(participant, Math.max(at, this.seenElsewhere.get(participant) ?? 0));
    // One connection per participant across replicas, as on one: the newer replaces the older, which is told why.
    if (online) this.local.close(participant, { code: 'CONFLICT', message: 'another connection with this key, to another replica, replaced this one' });
    this.place(participant, replica, online);
  }

  /** Whether a participant is connected through another replica; the engine hears when that makes it online or offline. */
  private place(participant: string, replica: string, online: boolean): void {
    const replicas = this.elsewhere.get(participant) ?? new Set<string>();
    const was = replicas.size > 0 || this.local.isOnline(participant);
    if (online) replicas.add(replica);
    else replicas.delete(replica);
    if (replicas.size) this.elsewhere.set(participant, replicas);
    else this.elsewhere.delete(participant);
    const is = replicas.size > 0 || this.local.isOnline(participant);
    if (!was && is) this.engine?.participantOnline(participant);
    if (was && !is) this.engine?.participantOffline(participant);
  }

  /**
   * An agent's message for a job this replica does not run: to the replicas
   * that might, whose one answer that is not null is the ack.
   */
  relay(participant: string, event: AgentEvent, body: unknown): Promise<Ack> {
    if (!this.shared || !this.namespace) return Promise.reject(new Error('no other replica to relay to: the shared state is in this process'));
    const size = { bytes: 0 };
    const message: Outgoing['message'] = [participant, event, toWire(body, size)];
    return new Promise((resolve, reject) => {
      if (this.outgoing.length === 0) setImmediate(() => this.sendOutgoing());
      this.outgoing.push({ message, resolve, reject });
      this.outgoingBytes += size.bytes;
      if (this.outgoing.length >= RELAY_BATCH.messages || this.outgoingBytes >= RELAY_BATCH.bytes) this.sendOutgoing();
    });
  }

  /**
   * One request for the messages gathered, to the replicas alive now; each
   * message's ack is the first answer that is not null, and once every one of
   * them has answered (or gone silent) the others are of no job any replica runs.
   */
  private sendOutgoing(): void {
    const batch = this.outgoing;
    if (batch.length === 0) return;
    this.outgoing = [];
    this.outgoingBytes = 0;
    const id = randomUUID();
    const waiting = new Set([...this.heard.keys()].filter((replica) => !this.silent(replica)));
    const timer = this.clock.setTimeout(() => {
      const request = this.requests.get(id);
      if (!request) return;
      this.requests.delete(id);
      const err = new Error(`no answer from replica ${[...request.waiting].join(', ')} within ${RELAY_ANSWER_TIMEOUT_MS / 1000} s`);
      request.batch.forEach((o, i) => request.done[i] || o.reject(err));
    }, RELAY_ANSWER_TIMEOUT_MS);
    const request: Request = { batch, done: batch.map(() => false), waiting, timer };
    this.requests.set(id, request);
    this.namespace!.serverSideEmit('fl:relay', this.replica, id, batch.map((o) => o.message));
    this.settle(id, request);
  }

  private answered(id: string, replica: string, acks: (Ack | null)[]): void {
    const request = this.requests.get(id);
    if (!request) return;
    request.batch.forEach((o, i) => {
      if (request.done[i] || acks[i] == null) return;
      request.done[i] = true;
      o.resolve(acks[i]);
    });
    request.waiting.delete(replica);
    this.settle(id, request);
  }

  /**
   * Answers here the messages of a job this replica has just taken that still
   * wait on another replica: the one that ran it (deposed, or gone) would not
   * answer for it any more.
   */
  leading(job: string): void {
    for (const [id, request] of this.requests) {
      request.batch.forEach((o, i) => {
        const [participant, event, body] = o.message;
        if (request.done[i] || jobOf(body) !== job) return;
        request.done[i] = true;
        this.engine!.relayed(participant, event, fromWire(body)).then(o.resolve, o.reject);
      });
      this.settle(id, request);
    }
  }

  /** Ends a request once each message has its ack, or no replica is left to answer: those not acked are of no job a replica runs. */
  private settle(id: string, request: Request): void {
    if (request.waiting.size > 0 && !request.done.every(Boolean)) return;
    this.requests.delete(id);
    this.clock.clearTimeout(request.timer);
    request.batch.forEach((o, i) => request.done[i] || o.resolve(ackError('UNKNOWN_JOB', 'no replica runs the job of this message')));
  }

  /** Connected to this replica or another. */
  isOnline(participant: string): boolean {
    return this.where(participant) !== undefined;
  }

  /** When a replica last saw the participant connect or disconnect. */
  seenAt(participant: string): number | undefined {
    const here = this.local.seenAt(participant);
    const there = this.seenElsewhere.get(participant);
    return here === undefined ? there : there === undefined ? here : Math.max(here, there);
  }

  online(): string[] {
    const names = new Set(this.local.online());
    for (const name of this.elsewhere.keys()) names.add(name);
    return [...names];
  }

  /** Connected to this replica, or else known connected to another. */
  private where(participant: string): 'here' | 'elsewhere' | undefined {
    if (this.local.isOnline(participant)) return 'here';
    return this.elsewhere.has(participant) ? 'elsewhere' : undefined;
  }

  send<E extends Instruction>(participant: string, event: E, ...args: Parameters<CoordinatorToAgentEvents[E]>): boolean {
    const where = this.where(participant);
    if (where === 'here') return this.local.send(participant, event, ...args);
    if (where === 'elsewhere') this.namespace!.serverSideEmit('fl:send', participant, event, toWire(args));
    return where !== undefined;
  }

  broadcast<E extends Instruction>(participants: Iterable<string>, event: E, ...args: Parameters<CoordinatorToAgentEvents[E]>): string[] {
    const { here, elsewhere, nowhere } = this.split(participants);
    const missing = here.length ? this.local.broadcast(here, event, ...args) : [];
    if (elsewhere.length) this.namespace!.serverSideEmit('fl:broadcast', elsewhere, event, toWire(args));
    return [...missing, ...nowhere];
  }

  provide(participants: Iterable<string>, setup: SetupMessage, digest: string): void {
    const { here, elsewhere } = this.split(participants);
    if (here.length) this.local.provide(here, setup, digest);
    if (elsewhere.length) this.namespace!.serverSideEmit('fl:provide', elsewhere, toWire(setup), digest);
  }

  private split(participants: Iterable<string>): { here: string[]; elsewhere: string[]; nowhere: string[] } {
    const groups = { here: [] as string[], elsewhere: [] as string[], nowhere: [] as string[] };
    for (const participant of participants) groups[this.where(participant) ?? 'nowhere'].push(participant);
    return groups;
  }

  private sendLocal(participant: string, event: Instruction, args: unknown[]): void {
    (this.local.send as (p: string, e: Instruction, ...a: unknown[]) => boolean)(participant, event, ...args);
  }

  private broadcastLocal(participants: string[], event: Instruction, args: unknown[]): void {
    (this.local.broadcast as (p: string[], e: Instruction, ...a: unknown[]) => string[])(participants, event, ...args);
  }
}

/**
 * Resolves once the Redis adapter's subscriptions are in place: it subscribes as
 * it is made, and a PING on the same connection is answered after them. A
 * request before that would miss the other replicas' answers and wait out its
 * timeout.
 */
async function subscribed(namespace: Namespace): Promise<void> {
  const subscriber = (namespace.adapter as { subClient?: { ping?: () => Promise<unknown> } }).subClient;
  await subscriber?.ping?.().catch(() => undefined);
}
