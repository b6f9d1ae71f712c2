/**
 * Agents connected to any replica, as the round engine of a job's leader sees
 * them: the AgentChannel it sends through, and the way in for what agents send.
 * A request for an agent connected to another replica goes there through
 * Socket.IO's server-side events (the Redis adapter carries them, binary
 * included), and that replica sends it on the agent's own connection; an
 * agent's message for a job this replica does not run goes to the replica that
 * runs it, whose answer is the agent's ack. Which participants are connected
 * where is told the same way, and asked again from time to time so that a
 * replica that went away does not keep its agents online. In one process this
 * is the connections themselves.
 */
import { randomUUID } from 'node:crypto';
import type { Namespace } from 'socket.io';
import { ackError, type Ack, type CoordinatorToAgentEvents, type ParticipantPresence, type SetupMessage } from '@fl/shared';
import type { AgentChannel, Instruction } from '../rounds/agent-channel';
import type { AgentConnections } from '../participants/connections';

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

/** How often the participants connected elsewhere are asked again. */
const RESYNC_EVERY_MS = 30_000;

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

export class AgentRelay implements AgentChannel {
  private namespace: Namespace | undefined;
  private engine: RelayedEngine | undefined;
  /** this replica, as the others know it */
  private readonly replica = randomUUID();
  /** participants connected to other replicas: name -> the replicas they are connected to */
  private readonly elsewhere = new Map<string, Set<string>>();
  /** when another replica last saw each participant come or go */
  private readonly seenElsewhere = new Map<string, number>();
  private resync: ReturnType<typeof setInterval> | undefined;
  /** messages to relay, sent together at the end of this turn of the event loop */
  private outgoing: Outgoing[] = [];
  private outgoingBytes = 0;

  constructor(
    private readonly local: AgentConnections,
    /** false in one process: no other replica to reach */
    private readonly shared: boolean,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  /** Wires the agents' namespace and the engine; with replicas, tells the others and learns from them. */
  attach(namespace: Namespace, engine: RelayedEngine): void {
    this.namespace = namespace;
    this.engine = engine;
    if (!this.shared) return;
    namespace.on('fl:presence', (replica: string, participant: string, online: boolean, at: number) => this.presence(replica, participant, online, at));
    namespace.on('fl:who', (reply: (answer: { replica: string; online: string[] }) => void) => reply({ replica: this.replica, online: this.local.online() }));
    namespace.on('fl:send', (participant: string, event: Instruction, args: unknown) => this.sendLocal(participant, event, fromWire(args) as unknown[]));
    namespace.on('fl:broadcast', (participants: string[], event: Instruction, args: unknown) =>
      this.broadcastLocal(participants, event, fromWire(args) as unknown[]),
    );
    namespace.on('fl:provide', (participants: string[], setup: unknown, digest: string) => this.local.provide(participants, fromWire(setup) as SetupMessage, digest));
    namespace.on('fl:messages', (messages: Outgoing['message'][], reply: (acks: (Ack | null)[]) => void) => {
      const acks = messages.map(([participant, event, body]) => {
        // Every replica receives every relayed message: only the job's leader decodes its bytes, the others answer null.
        const job = jobOf(body);
        if (job === undefined || !engine.leads(job)) return null;
        return engine.relayed(participant, event, fromWire(body)).catch((err: unknown) => {
          this.onError(err);
          return ackError('INTERNAL', 'an unexpected error; the coordinator logged it');
        });
      });
      void Promise.all(acks).then(reply);
    });
    this.local.events.on('presence', ({ name, online, lastSeen }: ParticipantPresence) => namespace.serverSideEmit('fl:presence', this.replica, name, online, lastSeen));
    void subscribed(namespace).then(() => this.learn());
    this.resync = setInterval(() => void this.learn(), RESYNC_EVERY_MS);
    this.resync.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.resync);
  }

  /** Asks every other replica which participants it holds, and takes that as the truth. */
  private async learn(): Promise<void> {
    let answers: { replica: string; online: string[] }[];
    try {
      answers = (await this.namespace!.serverSideEmitWithAck('fl:who')) as typeof answers;
    } catch (err) {
      // Some replica did not answer in time: what is known stays until the next time.
      this.onError(err);
      return;
    }
    const before = new Set(this.elsewhere.keys());
    this.elsewhere.clear();
    for (const { replica, online } of answers) {
      for (const name of online) this.elsewhere.set(name, (this.elsewhere.get(name) ?? new Set()).add(replica));
    }
    for (const name of this.elsewhere.keys()) if (!before.has(name) && !this.local.isOnline(name)) this.engine?.participantOnline(name);
    for (const name of before) if (!this.elsewhere.has(name) && !this.local.isOnline(name)) this.engine?.participantOffline(name);
  }

  private presence(replica: string, participant: string, online: boolean, at: number): void {
    this.seenElsewhere.set(participant, Math.max(at, this.seenElsewhere.get(participant) ?? 0));
    // One connection per participant across replicas, as on one: the newer replaces the older, which is told why.
    if (online) this.local.close(participant, { code: 'CONFLICT', message: 'another connection with this key, to another replica, replaced this one' });
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
      if (this.outgoing.length === 0) setImmediate(() => void this.sendOutgoing());
      this.outgoing.push({ message, resolve, reject });
      this.outgoingBytes += size.bytes;
      if (this.outgoing.length >= RELAY_BATCH.messages || this.outgoingBytes >= RELAY_BATCH.bytes) void this.sendOutgoing();
    });
  }

  /** One request for the messages gathered; each one's ack is the one answer that is not null. */
  private async sendOutgoing(): Promise<void> {
    const batch = this.outgoing;
    if (batch.length === 0) return;
    this.outgoing = [];
    this.outgoingBytes = 0;
    let answers: (Ack | null)[][];
    try {
      answers = (await this.namespace!.serverSideEmitWithAck('fl:messages', batch.map((o) => o.message))) as (Ack | null)[][];
    } catch (err) {
      for (const o of batch) o.reject(err);
      return;
    }
    batch.forEach((o, i) => o.resolve(answers.map((acks) => acks[i]).find((ack) => ack != null) ?? ackError('UNKNOWN_JOB', 'no replica runs the job of this message')));
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
