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

export function socketRooms(state: SharedState, prefix: string): SocketRooms {
  if (!(state instanceof RedisSharedState)) return { attach: () => undefined, close: async () => undefined };
  // The adapter's subscriptions need a connection of their own; it publishes on the state's.
  const subscriber = state.client.duplicate();
  return {
    attach: (server) => void server.adapter(createAdapter(state.publisher(), subscriber, { key: `${prefix}socket.io` })),
    close: async () => void (await subscriber.quit().catch(() => undefined)),
  };
}
