/**
 * One coordinator per SQLite data directory. SQLite lets a second process open
 * the store, and both would lead every job with nothing to fence them (replicas
 * need PostgreSQL). A file beside the store names the process serving it, and is
 * touched every few seconds. One of this host belongs to a live coordinator while
 * its process runs; one of another host sharing the volume, while it was touched
 * within SILENT_REPLICA_MS. Taken before the store is opened: a second
 * coordinator would otherwise migrate the store under the first.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SILENT_REPLICA_MS } from './leader-election';

export const LOCK_FILE = 'coordinator.lock';
const TOUCH_MS = 5_000;

interface Holder {
  pid: number;
  host: string;
  startedAt: string;
}

export class DataDirectoryLock {
  private readonly timer: NodeJS.Timeout;
  private listener: ((by: string) => void) | undefined;
  /** who took the directory over, once a touch found it so, whether or not anyone listened yet */
  private lostTo: string | undefined;

  private constructor(
    private readonly file: string,
    private readonly mine: string,
  ) {
    this.timer = setInterval(() => this.touch(), TOUCH_MS).unref();
  }

  /**
   * Called once if another process took the directory over (two starting at once on a stale lock, or this one frozen
   * for long); at once if it already has, e.g. during a start longer than a touch's interval. `by` names the process
   * that holds it now, as the lock file does.
   */
  onLost(listener: (by: string) => void): void {
    this.listener = listener;
    if (this.lostTo !== undefined) listener(this.lostTo);
  }

  /** Takes the directory, or throws naming the coordinator that serves it. */
  static take(dir: string, now = Date.now()): DataDirectoryLock {
    const file = path.join(dir, LOCK_FILE);
    const me: Holder = { pid: process.pid, host: os.hostname(), startedAt: new Date(now).toISOString() };
    const mine = JSON.stringify(me) + '\n';
    for (let attempt = 0; ; attempt++) {
      try {
        fs.writeFileSync(file, mine, { flag: 'wx', mode: 0o600 });
        return new DataDirectoryLock(file, mine);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      }
      const held = heldBy(file);
      if (held && !stale(held, me, now)) {
        const { holder, touchedAt } = held;
        throw new Error(
          `another coordinator serves the data directory ${dir}: ${named(holder)}, its ${LOCK_FILE} touched ${Math.round((now - touchedAt) / 1000)} s ago. ` +
            'Run one coordinator per SQLite store (replicas need PostgreSQL), or stop the other first',
        );
      }
      // Left by a coordinator that died: taken over.
      fs.rmSync(file, { force: true });
    }
  }

  /** Lets the directory go, unless another process took it over meanwhile. */
  release(): void {
    clearInterval(this.timer);
    try {
      if (fs.readFileSync(this.file, 'utf8') === this.mine) fs.rmSync(this.file, { force: true });
    } catch {
      // Gone already.
    }
  }

  private touch(): void {
    let current: string | undefined;
    try {
      current = fs.readFileSync(this.file, 'utf8');
    } catch {
      // Removed by hand: nothing to touch.
      return;
    }
    if (current !== this.mine) {
      clearInterval(this.timer);
      if (this.lostTo !== undefined) return;
      this.lostTo = named(parsed(current));
      this.listener?.(this.lostTo);
      return;
    }
    const now = new Date();
    fs.utimesSync(this.file, now, now);
  }
}

function heldBy(file: string): { holder: Holder | undefined; touchedAt: number } | undefined {
  try {
    const touchedAt = fs.statSync(file).mtimeMs;
    return { holder: parsed(fs.readFileSync(file, 'utf8')), touchedAt };
  } catch {
    return undefined;
  }
}

/** The holder a lock file names; undefined when it is cut short or not one (its age alone decides then). */
function parsed(text: string): Holder | undefined {
  try {
    const holder = JSON.parse(text) as Partial<Holder> | null;
    return typeof holder?.pid === 'number' && typeof holder.host === 'string' ? { pid: holder.pid, host: holder.host, startedAt: String(holder.startedAt) } : undefined;
  } catch {
    return undefined;
  }
}

const named = (holder: Holder | undefined) => (holder ? `process ${holder.pid} on ${holder.host}, started ${holder.startedAt}` : 'a process that did not name itself');

/**
 * Whether a lock is one a dead coordinator left: of this host, its process gone
 * (or this very pid, after a container's restart), whatever its age, since a live
 * one may only be slow to touch it; of another host, not touched for a silence.
 */
function stale({ holder, touchedAt }: { holder: Holder | undefined; touchedAt: number }, me: Holder, now: number): boolean {
  if (holder?.host === me.host) return holder.pid === me.pid || !alive(holder.pid);
  return now - touchedAt >= SILENT_REPLICA_MS;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
