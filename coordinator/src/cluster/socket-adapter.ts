/**
 * Socket.IO's Redis adapter, when the shared state is in Redis: a broadcast to a
 * namespace or a room (the dashboards' live events, the agents') reaches the
 * sockets connected to every replica, not only this one's.
 */
import { createAdapter } from '@socket.io/redis-adapter';
import type { Server } from 'socket.io';
import { RedisSharedState } from './redis-shared-state';
import type { SharedState } from './shared-state';

export interface SocketRooms {
  /** sets the server's adapter; does nothing for a single process */
  attach(server: Server): void;
  close(): Promise<void>;
}

/**
 * How long a request to the other replicas waits for their answers: as long as
 * an agent waits for the ack of its statistics, since a message relayed to the
 * job's leader is acked with the leader's answer (the library's 5 s cut off
 * relayed messages that were still queued at a busy leader).
 */
export const RELAY_ANSWER_TIMEOUT_MS = 60_000;


export function socketRooms(state: SharedState, prefix: string): SocketRooms {
  if (!(state instanceof RedisSharedState)) return { attach: () => undefined, close: async () => undefined };
  // The adapter's subscriptions need a connection of their own; it publishes on the state's.
  const subscriber = state.client.duplicate();
  return {
    attach: (server) => void server.adapter(createAdapter(state.publisher(), subscriber, { key: `${prefix}socket.io`, requestsTimeout: RELAY_ANSWER_TIMEOUT_MS })),
    close: async () => void (await subscriber.quit().catch(() => undefined)),
  };
}
