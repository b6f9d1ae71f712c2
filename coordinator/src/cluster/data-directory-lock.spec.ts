import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataDirectoryLock, LOCK_FILE } from './data-directory-lock';
import { SILENT_REPLICA_MS } from './leader-election';

/** A data directory whose lock file another coordinator left, touched `ago` ms before now. */
function leftBy(holder: { pid: number; host: string }, ago: number): { dir: string; now: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-lock-'));
  const file = path.join(dir, LOCK_FILE);
  fs.writeFileSync(file, JSON.stringify({ ...holder, startedAt: '2026-01-01T00:00:00.000Z' }));
  const now = Date.now();
  fs.utimesSync(file, new Date(now - ago), new Date(now - ago));
  return { dir, now };
}

describe('the data directory lock', () => {
  it('refuses a directory a live coordinator of another host touched within a silence, naming it', () => {
    const { dir, now } = leftBy({ pid: 4242, host: 'other-host' }, 1_000);
    expect(() => DataDirectoryLock.take(dir, now)).toThrow(/another coordinator serves the data directory .*: process 4242 on other-host, started 2026-01-01T00:00:00.000Z, its coordinator.lock touched 1 s ago/);
  });

  it('takes over a lock not touched for a silence, or one of this host whose process is gone', () => {
    for (const { dir, now } of [leftBy({ pid: 4242, host: 'other-host' }, SILENT_REPLICA_MS + 1_000), leftBy({ pid: 2 ** 22 + 7, host: os.hostname() }, 0)]) {
      const lock = DataDirectoryLock.take(dir, now);
      expect(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid, host: os.hostname() });
      lock.release();
      expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    }
  });

  it('refuses a lock of this host whose process runs, however long since it was touched (it may only be slow)', () => {
    const { dir, now } = leftBy({ pid: process.ppid, host: os.hostname() }, SILENT_REPLICA_MS * 10);
    expect(() => DataDirectoryLock.take(dir, now)).toThrow(new RegExp(`another coordinator serves the data directory .*: process ${process.ppid} on `));
  });

  it('tells its holder when another process took the directory over, naming it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-lock-'));
    const lock = DataDirectoryLock.take(dir);
    const told: string[] = [];
    lock.onLost((by) => told.push(by));
    fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', startedAt: '2026-01-01T00:00:00.000Z' }));
    // Execute: the periodic touch, now, and again
    (lock as unknown as { touch(): void }).touch();
    (lock as unknown as { touch(): void }).touch();
    expect(told).toEqual(['process 1 on elsewhere, started 2026-01-01T00:00:00.000Z']);
    lock.release();
  });

  it('tells its holder of a takeover by a process whose lock file names nobody', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-lock-'));
    const lock = DataDirectoryLock.take(dir);
    const told: string[] = [];
    lock.onLost((by) => told.push(by));
    fs.writeFileSync(path.join(dir, LOCK_FILE), '{"pid":');
    (lock as unknown as { touch(): void }).touch();
    expect(told).toEqual(['a process that did not name itself']);
    lock.release();
  });

  it('tells its holder of a takeover found before it listened, as soon as it listens', () => {
    // Prepare: the directory taken over while its holder still started (its first touch came before it listened)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-lock-'));
    const lock = DataDirectoryLock.take(dir);
    fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', startedAt: 'now' }));
    (lock as unknown as { touch(): void }).touch();
    // Execute
    const told: string[] = [];
    lock.onLost((by) => told.push(by));
    // Assert: told, though no touch comes after (the first one stopped them)
    expect(told).toEqual(['process 1 on elsewhere, started now']);
    lock.release();
  });

  it('refuses a second take while held, and lets a third in once released', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-lock-'));
    const first = DataDirectoryLock.take(dir);
    // The same process counts as a restarted container's: another host's view is what a second coordinator would have.
    fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', startedAt: 'now' }));
    expect(() => DataDirectoryLock.take(dir)).toThrow(/another coordinator serves/);
    first.release();
    // Not released: it was taken over (the file is no longer this process's).
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(true);
    fs.rmSync(path.join(dir, LOCK_FILE));
    DataDirectoryLock.take(dir).release();
  });
});
