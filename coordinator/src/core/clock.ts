/**
 * The time of the coordinator's own deadlines and expiries (round deadlines,
 * the wait after the minimum replied, invitations), injected so that a test
 * moves it by hand instead of waiting for it.
 */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

export const CLOCK = Symbol('CLOCK');

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, ms) {
    const timer = setTimeout(callback, ms);
    // A pending deadline alone does not keep the process alive.
    timer.unref();
    return timer;
  },
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

/** A clock that moves only when told to: tests pass one to reach a deadline or an expiry without waiting for it. */
export class ManualClock implements Clock {
  private timers: { at: number; callback: () => void }[] = [];

  constructor(private time = Date.now()) {}

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const timer = { at: this.time + Math.max(0, ms), callback };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(timer: unknown): void {
    this.timers = this.timers.filter((t) => t !== timer);
  }

  /** Moves time forward by `ms`, running each timer that falls due, in order of its time. */
  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.clearTimeout(due);
      this.time = due.at;
      due.callback();
    }
    this.time = until;
  }
}
