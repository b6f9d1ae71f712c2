/**
 * Parties that drop out, for `fl-sim --drop-rate P`: in every attempt at a
 * training round, each party drops with probability P at a step of the round
 * drawn at random (dropDraw). Dropping is a real disconnect of the real agent
 * just as it would send that step's reply (the reply never leaves); the agent
 * connects again once the coordinator has seen it go, and the coordinator
 * waits for it before it selects the parties of the next attempt or round
 * (--reconnect-wait-seconds), so a party misses exactly the attempts its draws
 * say, whatever the machine's speed (docs/simulation.md).
 */
import { createHash } from 'node:crypto';
import { seededRandom, type Ack } from '@fl/shared';
import type { ParticipantAgent } from '@fl/participant-agent';
import type { Attempts } from './attempts';

/** The replies a party can drop before: one per step of a secure round, the update of a plain one. */
export const SECURE_STAGES = ['advertise', 'share', 'masked', 'unmask'] as const;
export const PLAIN_STAGES = ['train'] as const;
export type DropStage = (typeof SECURE_STAGES)[number] | (typeof PLAIN_STAGES)[number];

export interface DropDraws {
  rate: number;
  /** the simulation's seed */
  seed: number;
  secure: boolean;
}

/**
 * The step at which party `party` (its index) drops out of attempt `attempt`
 * at round `round`, or undefined when it stays. Each attempt's draws come from
 * a generator of their own, two numbers, so that no outcome (an attempt more
 * at an earlier round) moves any other draw; and the first number alone
 * decides whether the party drops, so that with the same seed a party that
 * drops at one rate drops at every higher rate too, at the same step.
 */
export function dropDraw(draws: DropDraws, party: number, round: number, attempt: number): DropStage | undefined {
  const key = createHash('sha256').update(`fl-sim drop ${draws.seed} ${party} ${round} ${attempt}`).digest();
  const random = seededRandom(key.readUInt32LE(0));
  const drops = random() < draws.rate;
  const stages: readonly DropStage[] = draws.secure ? SECURE_STAGES : PLAIN_STAGES;
  const stage = stages[Math.min(stages.length - 1, Math.floor(random() * stages.length))];
  return drops ? stage : undefined;
}

export interface DropOptions extends DropDraws {
  /** the party's index */
  party: number;
  /** resolves once the coordinator counts the party offline */
  whenOffline: () => Promise<void>;
  /** told before the agent learns that its reply was lost */
  onDrop: (round: number, attempt: number, stage: DropStage) => void;
}

interface Header {
  round?: number;
  step?: string;
}

type AckCallback = (err: Error | null, ack?: Ack) => void;

/** Makes `agent`, asked in `attempts`, drop out as `options` say; nothing to undo, the agent is stopped at the end of the run. */
export function dropOut(agent: ParticipantAgent, attempts: Attempts, options: DropOptions): void {
  const socket = agent.socket as unknown as {
    emit(event: string, ...args: unknown[]): unknown;
    connect(): unknown;
    disconnect(): unknown;
    flags: Record<string, unknown>;
  };
  let planned: { round: number; attempt: number; stage: DropStage } | undefined;
  let stopped = false;
  agent.once('stopped', () => (stopped = true));
  const headerOf = (message: unknown): Header | undefined => (message as { header?: Header } | undefined)?.header;
  attempts.onAttempt((round, attempt) => {
    const stage = dropDraw(options, options.party, round, attempt);
    planned = stage && { round, attempt, stage };
  });

  const emit = socket.emit.bind(socket);
  socket.emit = (event: string, ...args: unknown[]) => {
    const header = headerOf(args[0]);
    const stage = event === 'update' ? 'train' : event === 'secagg' ? header?.step : undefined;
    if (!planned || stage !== planned.stage || header?.round !== planned.round) return emit(event, ...args);
    const { round, attempt } = planned;
    planned = undefined;
    // What `emit` would have done with the flags the agent set for this reply (its ack timeout).
    socket.flags = {};
    socket.disconnect();
    options.onDrop(round, attempt, stage);
    const ack = args[args.length - 1];
    if (typeof ack === 'function') (ack as AckCallback)(new Error('the connection dropped'));
    void options.whenOffline().then(
      () => stopped || socket.connect(),
      () => undefined,
    );
    return socket;
  };
}
