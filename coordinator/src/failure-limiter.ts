/**
 * Counts failures per key (an address, a claimed public key, a user name) in
 * fixed windows, so that a client guessing keys, tokens or passwords, or
 * replaying handshakes, is slowed to a trickle. Handshakes, enrollments and
 * sign-ins each have one. With replicas the counts live in Redis
 * (cluster/redis-shared-state.ts), hence answers that may be promises.
 */
export interface FailureLimits {
  readonly maxFailures: number;
  readonly windowMs: number;
  blocked(key: string, now: number): boolean | Promise<boolean>;
  attempt(key: string, now: number): boolean | Promise<boolean>;
  forgive(key: string, now: number): void | Promise<void>;
  /** `weight`: how many failures this one counts as (default 1) */
  fail(key: string, now: number, weight?: number): void | Promise<void>;
}

/** The limits of one process: the default, when no Redis is configured. */
export class FailureLimiter implements FailureLimits {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    readonly maxFailures: number,
    readonly windowMs: number,
  ) {}

  blocked(key: string, now: number): boolean {
    const window = this.windows.get(key);
    return window !== undefined && now - window.start < this.windowMs && window.count >= this.maxFailures;
  }

  attempt(key: string, now: number): boolean {
    if (this.blocked(key, now)) return false;
    this.fail(key, now);
    return true;
  }

  forgive(key: string, now: number): void {
    const window = this.windows.get(key);
    if (window && now - window.start < this.windowMs && window.count > 0) window.count--;
  }

  fail(key: string, now: number, weight = 1): void {
    const window = this.windows.get(key);
    if (!window || now - window.start >= this.windowMs) {
      if (this.windows.size >= 100_000) this.prune(now);
      this.windows.set(key, { start: now, count: weight });
    } else window.count += weight;
  }

  private prune(now: number): void {
    for (const [key, window] of this.windows) if (now - window.start >= this.windowMs) this.windows.delete(key);
  }
}
