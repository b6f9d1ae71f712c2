/**
 * One phase of a round: the coordinator asked some participants for a reply and
 * waits until each has replied or failed, or the deadline passes. A round is a
 * sequence of such phases (statistics, training; later the extra phases of
 * secure aggregation), never one hard-wired exchange.
 */
import type { Clock } from '../core/clock';

/** Why a participant did not reply: `code` when the coordinator refused what it sent. */
export interface Failure {
  reason: string;
  code?: string;
}

/** How many failures a phase's summary names one by one: a job of hundreds of sites would otherwise make an error of them all. */
export const NAMED_FAILURES = 5;

/** One participant's failure, as a summary or a log line names it. */
export function failureText(participant: string, { reason, code }: Failure): string {
  return `${participant}: ${code ? `${code} ` : ''}${reason}`;
}

/**
 * A phase's failures in a text of bounded length, however many participants failed: each named when they are
 * few; else counted by cause (the code, or the reason of those without one), the first of each cause named.
 */
export function summarizeFailures(failures: ReadonlyMap<string, Failure>): string {
  if (failures.size <= NAMED_FAILURES) return [...failures].map(([participant, failure]) => failureText(participant, failure)).join('; ');
  const causes = new Map<string, { count: number; first: string }>();
  for (const [participant, failure] of failures) {
    const cause = failure.code ?? failure.reason;
    const counted = causes.get(cause);
    if (counted) counted.count++;
    else causes.set(cause, { count: 1, first: failureText(participant, failure) });
  }
  const ranked = [...causes].sort(([a, x], [b, y]) => y.count - x.count || a.localeCompare(b));
  const counts = ranked.map(([cause, { count }]) => `${count} ${cause}`).join(', ');
  const firsts = ranked.slice(0, NAMED_FAILURES).map(([, { first }]) => first).join('; ');
  return `${failures.size} failed: ${counts}; first of each: ${firsts}`;
}

export class ReplyCollection<T> {
  readonly replies = new Map<string, T>();
  readonly failures = new Map<string, Failure>();
  /** resolves once every selected participant replied or failed */
  readonly closed: Promise<void>;
  private settle!: () => void;
  private timer: unknown;
  private done = false;

  constructor(
    readonly selected: ReadonlySet<string>,
    readonly deadline: number,
    private readonly clock: Clock,
  ) {
    this.closed = new Promise((resolve) => (this.settle = resolve));
    this.timer = this.expireAt(deadline);
  }

  /** Brings the end of the phase forward (never back), e.g. a short wait once the minimum replied. */
  closeBy(time: number): void {
    if (this.done || time >= this.deadline) return;
    this.clock.clearTimeout(this.timer);
    this.timer = this.expireAt(time);
  }

  private expireAt(time: number): unknown {
    return this.clock.setTimeout(() => this.expire(), Math.max(0, time - this.clock.now()));
  }

  get isClosed(): boolean {
    return this.done;
  }

  hasAnswered(participant: string): boolean {
    return this.replies.has(participant) || this.failures.has(participant);
  }

  accept(participant: string, reply: T): void {
    if (this.done || !this.selected.has(participant) || this.hasAnswered(participant)) return;
    this.replies.set(participant, reply);
    this.closeIfComplete();
  }

  fail(participant: string, reason: string, code?: string): void {
    if (this.done || !this.selected.has(participant) || this.hasAnswered(participant)) return;
    this.failures.set(participant, code === undefined ? { reason } : { reason, code });
    this.closeIfComplete();
  }

  /** Takes back a reply the phase can no longer use, e.g. of a participant revoked since: it becomes a failure. */
  withdraw(participant: string, reason: string, code?: string): void {
    if (!this.replies.delete(participant)) return;
    this.failures.set(participant, code === undefined ? { reason } : { reason, code });
  }

  /** Ends the phase now, e.g. when the job stops. */
  close(reason: string): void {
    for (const p of this.selected) if (!this.hasAnswered(p)) this.failures.set(p, { reason });
    this.finish();
  }

  private expire(): void {
    this.close('deadline passed');
  }

  private closeIfComplete(): void {
    if (this.replies.size + this.failures.size >= this.selected.size) this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.clock.clearTimeout(this.timer);
    this.settle();
  }
}
