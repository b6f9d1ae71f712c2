/**
 * What the round engine needs of the agents' transport. The Socket.IO gateway
 * implements it; engine tests use an in-memory fake.
 */
import type { CoordinatorToAgentEvents } from '@fl/shared';

/** What the coordinator sends agents on its own initiative; pieces of large messages are the transport's business. */
export type Instruction = Exclude<keyof CoordinatorToAgentEvents, 'chunk' | 'chunked'>;

export interface AgentChannel {
  /** names of the participants with a live, authenticated connection */
  online(): string[];
  /** false when the participant has no connection; a message larger than a frame goes in pieces */
  send<E extends Instruction>(
    participant: string,
    event: E,
    ...args: Parameters<CoordinatorToAgentEvents[E]>
  ): boolean;
  /** The same message to several participants, encoded once; answers those that have no connection. */
  broadcast<E extends Instruction>(
    participants: Iterable<string>,
    event: E,
    ...args: Parameters<CoordinatorToAgentEvents[E]>
  ): string[];
}

export const AGENT_CHANNEL = Symbol('AgentChannel');
