/**
 * Live agent connections by participant name: the AgentChannel the round engine
 * sends through. One connection per participant; a newer one replaces the older.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'socket.io';
import {
  DownlinkChunkedSchema,
  inPieces,
  messageBytes,
  randomNonce,
  type Ack,
  type AgentToCoordinatorEvents,
  type Chunk,
  type Chunked,
  type CoordinatorToAgentEvents,
  type DownlinkChunked,
  type ErrorBody,
  type SetupMessage,
  type TransferAssembler,
} from '@fl/shared';
import type { ParticipantPresence } from '@fl/shared';
import type { AgentChannel, Instruction } from '../rounds/agent-channel';

/** How long a piece of a message sent in pieces waits for the agent's ack. */
const PIECE_ACK_TIMEOUT_MS = 60_000;

export type AgentSocket = Socket<AgentToCoordinatorEvents, CoordinatorToAgentEvents, Record<string, never>, AgentSocketData>;
export interface AgentSocketData {
  participant: string;
  /** the key it signed its handshake with, base64 */
  publicKey: string;
  handshakeNonce: string;
  /** set once the connection is being closed for its key's refused messages */
  closing?: true;
  /** the message being received in pieces, if any */
  transfers: TransferAssembler<Chunked>;
  /** digests of the job setups sent on this connection */
  setups: Set<string>;
  /** while a message goes out in pieces: what is sent after it waits for it, so that messages keep their order */
  outbox?: Promise<void>;
}

/** What the coordinator sends an agent; the requests DownlinkChunkedSchema names may go in pieces. */
type Sendable = Instruction | 'setup';
const IN_PIECES: ReadonlySet<string> = new Set(DownlinkChunkedSchema.shape.event.options);

export class AgentConnections implements AgentChannel {
  private readonly sockets = new Map<string, AgentSocket>();
  private readonly lastSeen = new Map<string, number>();
  /**
   * 'presence' events (ParticipantPresence) when a participant comes online or goes offline;
   * 'transfer-refused' (participant, ErrorBody) when an agent refuses a piece of a large message
   */
  readonly events = new EventEmitter();

  /** `maxFrameBytes`: a message larger than this goes in pieces */
  constructor(private readonly maxFrameBytes = Infinity) {}

  /** Registers the connection; returns the one it replaces, if any. */
  add(participant: string, socket: AgentSocket): AgentSocket | undefined {
    const previous = this.sockets.get(participant);
    this.sockets.set(participant, socket);
    this.lastSeen.set(participant, Date.now());
    if (!previous) this.announce(participant, true);
    return previous;
  }

  /** Forgets the connection unless a newer one replaced it; true when the participant went offline. */
  remove(participant: string, socket: AgentSocket): boolean {
    this.lastSeen.set(participant, Date.now());
    if (this.sockets.get(participant) !== socket) return false;
    this.sockets.delete(participant);
    this.announce(participant, false);
    return true;
  }

  private announce(name: string, online: boolean): void {
    const presence: ParticipantPresence = { name, online, lastSeen: this.lastSeen.get(name)! };
    this.events.emit('presence', presence);
  }

  isOnline(participant: string): boolean {
    return this.sockets.has(participant);
  }

  seenAt(participant: string): number | undefined {
    return this.lastSeen.get(participant);
  }

  online(): string[] {
    return [...this.sockets.keys()];
  }

  send<E extends Instruction>(participant: string, event: E, ...args: Parameters<CoordinatorToAgentEvents[E]>): boolean {
    const socket = this.sockets.get(participant);
    if (!socket) return false;
    this.deliver([socket], event, args);
    return true;
  }

  broadcast<E extends Instruction>(participants: Iterable<string>, event: E, ...args: Parameters<CoordinatorToAgentEvents[E]>): string[] {
    const sockets: AgentSocket[] = [];
    const missing: string[] = [];
    for (const participant of participants) {
      const socket = this.sockets.get(participant);
      if (socket) sockets.push(socket);
      else missing.push(participant);
    }
    if (sockets.length) this.deliver(sockets, event, args);
    return missing;
  }

  provide(participants: Iterable<string>, setup: SetupMessage, digest: string): void {
    const lacking: AgentSocket[] = [];
    for (const participant of participants) {
      const socket = this.sockets.get(participant);
      if (!socket || socket.data.setups.has(digest)) continue;
      socket.data.setups.add(digest);
      lacking.push(socket);
    }
    if (lacking.length) this.deliver(lacking, 'setup', [setup]);
  }

  private deliver<E extends Sendable>(sockets: AgentSocket[], event: E, args: Parameters<CoordinatorToAgentEvents[E]>): void {
    const free: AgentSocket[] = [];
    for (const socket of sockets) {
      if (socket.data.outbox) this.after(socket, () => this.deliverNow([socket], event, args));
      else free.push(socket);
    }
    if (free.length) this.deliverNow(free, event, args);
  }

  private deliverNow<E extends Sendable>(sockets: AgentSocket[], event: E, args: Parameters<CoordinatorToAgentEvents[E]>): void {
    const [message] = args;
    if (IN_PIECES.has(event) && messageBytes(message) > this.maxFrameBytes) {
      // Larger than a frame: packed once, then sent in pieces to each, each piece once the previous one is acknowledged.
      const { pieces, end } = inPieces(message as Record<string, unknown>, event as DownlinkChunked['event'], this.maxFrameBytes, randomNonce());
      for (const socket of sockets) this.after(socket, () => this.sendInPieces(socket, pieces, end));
      return;
    }
    this.emitTo(sockets, event, args);
  }

  private emitTo<E extends Sendable>(sockets: AgentSocket[], event: E, args: Parameters<CoordinatorToAgentEvents[E]>): void {
    // Each socket is in the room of its own id: one emit to those rooms encodes the packet once for all of them.
    // Local: these sockets are this process's, and with replicas the Redis adapter would also publish the packet to every other.
    const emitter = sockets.length === 1 ? sockets[0] : sockets[0].nsp.local.to(sockets.map((s) => s.id));
    (emitter.emit as (event: E, ...args: Parameters<CoordinatorToAgentEvents[E]>) => boolean)(event, ...args);
  }

  /** Runs `send` once the socket's earlier messages in pieces have gone; they wait for this one in turn. */
  private after(socket: AgentSocket, send: () => void | Promise<void>): void {
    // A send that fails is that participant's failure at the phase's deadline, as a disconnect is; the next still goes.
    const queued = (socket.data.outbox ?? Promise.resolve()).then(send).catch(() => undefined);
    socket.data.outbox = queued;
    void queued.finally(() => {
      if (socket.data.outbox === queued) socket.data.outbox = undefined;
    });
  }

  private async sendInPieces(socket: AgentSocket, pieces: Chunk[], end: DownlinkChunked): Promise<void> {
    for (const piece of pieces) {
      let ack: Ack;
      try {
        ack = await socket.timeout(PIECE_ACK_TIMEOUT_MS).emitWithAck('chunk', piece);
      } catch {
        return; // disconnected or silent: the phase records the participant's failure at its deadline
      }
      if (!ack.ok) {
        this.events.emit('transfer-refused', socket.data.participant, ack.error);
        return;
      }
    }
    socket.emit('chunked', end);
  }

  /** Closes a participant's live connection, telling it why first (e.g. REVOKED). */
  close(participant: string, error: ErrorBody): boolean {
    const socket = this.sockets.get(participant);
    if (!socket) return false;
    socket.emit('closing', error);
    socket.disconnect(true);
    return true;
  }

  /** Closes every connection; with a reason, tells each agent first (COORDINATOR_RESTARTING: come back). */
  disconnectAll(error?: ErrorBody): void {
    for (const socket of this.sockets.values()) {
      if (error) socket.emit('closing', error);
      socket.disconnect(true);
    }
  }
}
