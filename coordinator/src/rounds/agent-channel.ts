/**
 * What the round engine needs of the agents' transport. The Socket.IO gateway
 * implements it; engine tests use an in-memory fake.
 */
import type { CoordinatorToAgentEvents } from '@fl/shared';

export interface AgentChannel {
  /** names of the participants with a live, authenticated connection */
  online(): string[];
  /** false when the participant has no connection */
  send<E extends keyof CoordinatorToAgentEvents>(
    participant: string,
    event: E,
    ...args: Parameters<CoordinatorToAgentEvents[E]>
  ): boolean;
  /** The same message to several participants, encoded once; answers those that have no connection. */
  broadcast<E extends keyof CoordinatorToAgentEvents>(
    participants: Iterable<string>,
    event: E,
    ...args: Parameters<CoordinatorToAgentEvents[E]>
  ): string[];
}

export const AGENT_CHANNEL = Symbol('AgentChannel');
