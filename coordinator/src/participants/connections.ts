/**
 * Live agent connections by participant name: the AgentChannel the round engine
 * sends through. One connection per participant; a newer one replaces the older.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'socket.io';
import type { AgentToCoordinatorEvents, CoordinatorToAgentEvents, ErrorBody } from '@fl/shared';
import type { ParticipantPresence } from '../admin/views';
import type { AgentChannel } from '../rounds/agent-channel';
import type { TransferAssembler } from './transfers';

export type AgentSocket = Socket<AgentToCoordinatorEvents, CoordinatorToAgentEvents, Record<string, never>, AgentSocketData>;
export interface AgentSocketData {
  participant: string;
  handshakeNonce: string;
  /** messages refused on this connection so far */
  refusals: number;
  /** the message being received in pieces, if any */
  transfers: TransferAssembler;
}

export class AgentConnections implements AgentChannel {
  private readonly sockets = new Map<string, AgentSocket>();
  private readonly lastSeen = new Map<string, number>();
  /** 'presence' events (ParticipantPresence) when a participant comes online or goes offline */
  readonly events = new EventEmitter();

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

  send<E extends keyof CoordinatorToAgentEvents>(
    participant: string,
    event: E,
    ...args: Parameters<CoordinatorToAgentEvents[E]>
  ): boolean {
    const socket = this.sockets.get(participant);
    if (!socket) return false;
    socket.emit(event, ...args);
    return true;
  }

  broadcast<E extends keyof CoordinatorToAgentEvents>(
    participants: Iterable<string>,
    event: E,
    ...args: Parameters<CoordinatorToAgentEvents[E]>
  ): string[] {
    const ids: string[] = [];
    const missing: string[] = [];
    let any: AgentSocket | undefined;
    for (const participant of participants) {
      const socket = this.sockets.get(participant);
      if (!socket) missing.push(participant);
      else {
        ids.push(socket.id);
        any = socket;
      }
    }
    // Each socket is in the room of its own id: one emit to those rooms encodes the packet once for all of them.
    if (any) any.nsp.to(ids).emit(event, ...args);
    return missing;
  }

  /** Closes a participant's live connection, telling it why first (e.g. REVOKED). */
  close(participant: string, error: ErrorBody): boolean {
    const socket = this.sockets.get(participant);
    if (!socket) return false;
    socket.emit('closing', error);
    socket.disconnect(true);
    return true;
  }

  disconnectAll(): void {
    for (const socket of this.sockets.values()) socket.disconnect(true);
  }
}
