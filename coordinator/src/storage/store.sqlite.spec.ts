/**
 * A store on a place this process cannot write: SQLite would open it read-only
 * without a word, and the coordinator would report itself ready and fail at
 * every write. The system's answer is stood in for: root ignores file modes, and
 * a read-only mount needs privileges a test does not have.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as realFs from 'node:fs';

/** whether the system says every place is read-only */
let mockReadOnly = false;

jest.mock('node:fs', () => {
  const actual = jest.requireActual<typeof import('node:fs')>('node:fs');
  return {
    ...actual,
    accessSync: (place: string, mode?: number) => {
      if (mockReadOnly) throw Object.assign(new Error('read-only file system'), { code: 'EROFS' });
      return actual.accessSync(place, mode);
    },
  };
});

// After the mock: the store reads node:fs through it.
import { SqliteStore } from './store.sqlite';

describe('the SQLite store on a place it cannot write', () => {
  it('refuses to open, naming the place, and still opens read-only to be verified', async () => {
    // Arrange: a store made, then seen on a read-only mount
    const file = path.join(realFs.mkdtempSync(path.join(os.tmpdir(), 'fl-store-')), 'coordinator.sqlite');
    await (await SqliteStore.open(file)).close();
    mockReadOnly = true;
    // Execute, Assert
    await expect(SqliteStore.open(file)).rejects.toThrow(`the store ${file} cannot be written: ${file} is read-only to this process (EROFS)`);
    const readonly = await SqliteStore.open(file, { readonly: true });
    await readonly.close();
  });
});
