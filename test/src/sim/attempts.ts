/**
 * The attempts at each training round a party's agent is asked in, told by
 * the first request of each (a secure round's key advertisement, a plain
 * round's train request), for what the simulation does per attempt: the drops
 * it draws, the order of the updates.
 */
import type { ParticipantAgent } from '@fl/participant-agent';

export interface Attempts {
  /** the attempts at `round` the party was asked in so far */
  asked(round: number): number;
  /** `listener` is told of each attempt as its first request comes */
  onAttempt(listener: (round: number, attempt: number) => void): void;
}

/** Counts `agent`'s attempts; the statistics phase (rounds −2 to 0 of a secure job) is not a training round and is not counted. */
export function countAttempts(agent: ParticipantAgent, secure: boolean): Attempts {
  const socket = agent.socket as unknown as { on(event: string, fn: (m: unknown) => void): void };
  const counts = new Map<number, number>();
  const listeners: ((round: number, attempt: number) => void)[] = [];
  socket.on(secure ? 'secagg-request' : 'train', (message) => {
    const header = (message as { header?: { round?: number; step?: string } } | undefined)?.header;
    if (header?.round === undefined || header.round < 1 || (secure && header.step !== 'advertise')) return;
    const attempt = (counts.get(header.round) ?? 0) + 1;
    counts.set(header.round, attempt);
    for (const listener of listeners) listener(header.round, attempt);
  });
  return {
    asked: (round) => counts.get(round) ?? 0,
    onAttempt: (listener) => void listeners.push(listener),
  };
}
