/**
 * Plain updates reach the coordinator in party order, p1 first, in every
 * attempt at a round. The coordinator folds each update into the model as it
 * comes, summing in float64, and such sums depend on their order; the agents,
 * sharing one thread, finish in an order that varies from run to run, and so
 * did the train loss's last digits and at times the model's last bits.
 */
import type { Ack } from '@fl/shared';
import type { ParticipantAgent } from '@fl/participant-agent';
import type { Attempts } from './attempts';

type AckCallback = (err: Error | null, ack?: Ack) => void;

interface Header {
  round?: number;
  phase?: string;
}

export class UpdateOrder {
  /** per party, per round, the last attempt whose update was acknowledged, refused or dropped, or which the party reported it could not train */
  private readonly settled: Map<number, number>[];
  private waiting: { ready: () => boolean; go: () => void }[] = [];
  private leftOut: Promise<ReadonlySet<number>> | undefined;

  /** `outOfJob` gives the parties (by index) the job left out once its statistics are in: they are asked nothing, and no update waits for them. */
  constructor(
    parties: number,
    private readonly outOfJob: () => Promise<ReadonlySet<number>>,
  ) {
    this.settled = Array.from({ length: parties }, () => new Map());
  }

  /** Holds each update of `agent`, party `party` (its index), until every party before it has settled the same attempt. */
  arrange(agent: ParticipantAgent, party: number, attempts: Attempts): void {
    const socket = agent.socket as unknown as { emit(event: string, ...args: unknown[]): unknown; flags: Record<string, unknown> };
    const emit = socket.emit.bind(socket);
    socket.emit = (event: string, ...args: unknown[]) => {
      const header = (args[0] as { header?: Header } | undefined)?.header;
      const round = header?.round;
      if (round === undefined || (event !== 'update' && !(event === 'failure' && header?.phase === 'train'))) return emit(event, ...args);
      const attempt = attempts.asked(round);
      const settle = () => this.settle(party, round, attempt);
      if (event === 'failure') {
        settle();
        return emit(event, ...args);
      }
      const ack = args[args.length - 1];
      const answered = (err: Error | null, answer?: Ack) => {
        settle();
        (ack as AckCallback)(err, answer);
      };
      const sent = typeof ack === 'function' ? [...args.slice(0, -1), answered] : args;
      // The flags the agent set for this update (its ack timeout) go with it when it leaves.
      const flags = socket.flags;
      socket.flags = {};
      void this.turn(party, round, attempt).then(() => {
        socket.flags = flags;
        emit(event, ...sent);
        if (typeof ack !== 'function') settle();
      });
      return socket;
    };
  }

  private async turn(party: number, round: number, attempt: number): Promise<void> {
    const leftOut = await (this.leftOut ??= this.outOfJob());
    const ready = () => this.settled.slice(0, party).every((settled, before) => leftOut.has(before) || (settled.get(round) ?? 0) >= attempt);
    if (!ready()) await new Promise<void>((go) => this.waiting.push({ ready, go }));
  }

  private settle(party: number, round: number, attempt: number): void {
    const settled = this.settled[party];
    if ((settled.get(round) ?? 0) < attempt) settled.set(round, attempt);
    const waiting = this.waiting;
    this.waiting = [];
    for (const waiter of waiting) {
      if (waiter.ready()) waiter.go();
      else this.waiting.push(waiter);
    }
  }
}
