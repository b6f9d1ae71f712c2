/** The embedded store: one SQLite file in the data directory, WAL mode, through Kysely (store.kysely.ts). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDatabase } from 'kysely';
import { KyselyStore, type StoreOptions } from './store.kysely';
import type { Tables } from './schema';

/** The store's file name in the data directory. */
export const STORE_FILE = 'coordinator.sqlite';

/**
 * The connection as Kysely sees it, with each statement compiled once:
 * compiling on every call cost ~15% of verifying an update.
 */
function cachingStatements(db: Database.Database): SqliteDatabase {
  const statements = new Map<string, Database.Statement>();
  return {
    close: () => db.close(),
    prepare: (sql: string) => {
      let statement = statements.get(sql);
      if (!statement) {
        statement = db.prepare(sql);
        statements.set(sql, statement);
      }
      return statement;
    },
  };
}

function writable(place: string, file: string): void {
  try {
    fs.accessSync(place, fs.constants.W_OK);
  } catch (err) {
    throw new Error(`the store ${file} cannot be written: ${place} is read-only to this process (${(err as NodeJS.ErrnoException).code})`);
  }
}

export class SqliteStore extends KyselyStore {
  private constructor(
    kysely: Kysely<Tables>,
    options: StoreOptions,
    private readonly database: Database.Database,
  ) {
    super(kysely, 'sqlite', options);
  }

  /**
   * Opens (or creates) the store in `file` and applies the migrations it lacks.
   * `readonly` opens an existing store without changing a byte of it, e.g. to verify its audit log.
   */
  static async open(file: string, options: StoreOptions & { readonly?: boolean } = {}): Promise<SqliteStore> {
    // SQLite opens a store it cannot write without a word, and every write would then fail after a ready start.
    if (!options.readonly) for (const place of fs.existsSync(file) ? [file, path.dirname(file)] : [path.dirname(file)]) writable(place, file);
    const db = options.readonly ? new Database(file, { readonly: true, fileMustExist: true }) : new Database(file);
    if (!options.readonly) {
      // Large pages for a store of model rows: a 4 MB model commits in ~3 ms instead of ~24 with 4 KiB
      // pages. It takes effect only on a new file, so it must come before WAL is switched on.
      db.pragma('page_size = 65536');
      // WAL: readers never block the round commit, and a crash mid-write leaves the last commit intact.
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      // Statement journals (a statement's undo inside a transaction) in memory, not in a temporary file:
      // a round's commit wrote each page its statements touched, 64 KiB at a time, to disk as well.
      db.pragma('temp_store = MEMORY');
      db.pragma('foreign_keys = ON');
    }
    const store = new SqliteStore(new Kysely<Tables>({ dialect: new SqliteDialect({ database: cachingStatements(db) }) }), options, db);
    if (!options.readonly) {
      try {
        await store.migrate();
      } catch (err) {
        await store.close();
        throw err;
      }
    }
    return store;
  }

  /** The file's connection, for tests that change rows behind the store's back. */
  get connection(): Database.Database {
    return this.database;
  }
}
