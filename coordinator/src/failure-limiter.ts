/**
 * Counts failures per key (an address, a claimed public key, a user name) in
 * fixed windows, so that a client guessing keys, tokens or passwords, or
 * replaying handshakes, is slowed to a trickle. Handshakes, enrollments and
 * sign-ins each have one.
 */
export class FailureLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    readonly maxFailures: number,
    readonly windowMs: number,
  ) {}

  blocked(key: string, now: number): boolean {
    const window = this.windows.get(key);
    return window !== undefined && now - window.start < this.windowMs && window.count >= this.maxFailures;
  }

  /**
   * Counts an attempt as a failure before its outcome is known, so that attempts
   * in flight together cannot pass the limit; false (and nothing counted) when
   * the key is blocked. A success is then taken back with forgive().
   */
  attempt(key: string, now: number): boolean {
    if (this.blocked(key, now)) return false;
    this.fail(key, now);
    return true;
  }

  /** Takes back an attempt counted in the current window. */
  forgive(key: string, now: number): void {
    const window = this.windows.get(key);
    if (window && now - window.start < this.windowMs && window.count > 0) window.count--;
  }

  fail(key: string, now: number): void {
    const window = this.windows.get(key);
    if (!window || now - window.start >= this.windowMs) {
      if (this.windows.size >= 100_000) this.prune(now);
      this.windows.set(key, { start: now, count: 1 });
    } else window.count++;
  }

  private prune(now: number): void {
    for (const [key, window] of this.windows) if (now - window.start >= this.windowMs) this.windows.delete(key);
  }
}
