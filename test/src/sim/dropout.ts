/**
 * Parties that drop out, for `fl-sim --drop-rate P`: in every attempt at a
 * round, each party drops with probability P at a stage of the round drawn at
 * random. Dropping is a real disconnect of the real agent just as it would send
 * that stage's reply (the reply never leaves); the agent connects again once the
 * coordinator has seen it go, which rounds that start before then run without.
 * The draws are seeded by the simulation's seed and the party; who takes part
 * also depends on how fast the agent is back (docs/simulation.md).
 */
import { seededRandom, type Ack } from '@fl/shared';
import type { ParticipantAgent } from '@fl/participant-agent';

/** The replies a party can drop before: one per step of a secure round, the update of a plain one. */
export const SECURE_STAGES = ['advertise', 'share', 'masked', 'unmask'] as const;
export const PLAIN_STAGES = ['train'] as const;
export type DropStage = (typeof SECURE_STAGES)[number] | (typeof PLAIN_STAGES)[number];

export interface DropOptions {
  rate: number;
  seed: number;
  secure: boolean;
  /** resolves once the coordinator counts the party offline */
  whenOffline: () => Promise<void>;
  /** told before the agent learns that its reply was lost */
  onDrop: (round: number, stage: DropStage) => void;
}

interface Header {
  round?: number;
  step?: string;
}

type AckCallback = (err: Error | null, ack?: Ack) => void;

/** Makes `agent` drop out as `options` say; returns nothing to undo, the agent is stopped at the end of the run. */
export function dropOut(agent: ParticipantAgent, options: DropOptions): void {
  const socket = agent.socket as unknown as {
    on(event: string, fn: (m: unknown) => void): void;
    emit(event: string, ...args: unknown[]): unknown;
    connect(): unknown;
    disconnect(): unknown;
    flags: Record<string, unknown>;
  };
  const random = seededRandom(options.seed);
  const stages: readonly DropStage[] = options.secure ? SECURE_STAGES : PLAIN_STAGES;
  let planned: { round: number; stage: DropStage } | undefined;
  let stopped = false;
  agent.once('stopped', () => (stopped = true));
  // A round's attempt starts with its first request: the draw for that attempt is made then, always two numbers, so the sequence does not depend on the outcome.
  const draw = (round: number) => {
    const drops = random() < options.rate;
    const stage = stages[Math.min(stages.length - 1, Math.floor(random() * stages.length))];
    planned = drops ? { round, stage } : undefined;
  };
  const headerOf = (message: unknown): Header | undefined => (message as { header?: Header } | undefined)?.header;
  socket.on(options.secure ? 'secagg-request' : 'train', (message) => {
    const header = headerOf(message);
    if (header?.round !== undefined && (!options.secure || header.step === 'advertise')) draw(header.round);
  });

  const emit = socket.emit.bind(socket);
  socket.emit = (event: string, ...args: unknown[]) => {
    const header = headerOf(args[0]);
    const stage = event === 'update' ? 'train' : event === 'secagg' ? header?.step : undefined;
    if (!planned || stage !== planned.stage || header?.round !== planned.round) return emit(event, ...args);
    const { round } = planned;
    planned = undefined;
    // What `emit` would have done with the flags the agent set for this reply (its ack timeout).
    socket.flags = {};
    socket.disconnect();
    options.onDrop(round, stage);
    const ack = args[args.length - 1];
    if (typeof ack === 'function') (ack as AckCallback)(new Error('the connection dropped'));
    void options.whenOffline().then(
      () => stopped || socket.connect(),
      () => undefined,
    );
    return socket;
  };
}
