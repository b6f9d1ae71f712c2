/**
 * What the round engine needs of the agents' transport. The Socket.IO gateway
 * implements it; engine tests use an in-memory fake.
 */
import type { CoordinatorToAgentEvents, SetupMessage } from '@fl/shared';

/** What the coordinator sends agents on its own initiative; pieces of large messages are the transport's business. */
export type Instruction = Exclude<keyof CoordinatorToAgentEvents, 'chunk' | 'chunked' | 'setup'>;

export interface AgentChannel {
  /** names of the participants with a live, authenticated connection */
  online(): string[];
  /** false when the participant has no connection; a message larger than a frame goes in pieces */
  send<E extends Instruction>(
    participant: string,
    event: E,
    ...args: Parameters<CoordinatorToAgentEvents[E]>
  ): boolean;
  /**
   * Sends a job's setup to those of the participants whose connection has not
   * had this one (by digest); what is sent to them next arrives after it.
   */
  provide(participants: Iterable<string>, setup: SetupMessage, digest: string): void;
  /** The same message to several participants, encoded once; answers those that have no connection. */
  broadcast<E extends Instruction>(
    participants: Iterable<string>,
    event: E,
    ...args: Parameters<CoordinatorToAgentEvents[E]>
  ): string[];
  /** This process now runs the job: agents' messages of it still waiting for another replica's answer are its own to answer. */
  leading?(job: string): void;
}

export const AGENT_CHANNEL = Symbol('AgentChannel');
