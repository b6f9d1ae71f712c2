/**
 * Which store the coordinator and its operator commands open: PostgreSQL when a
 * database URL is given (--database-url / FL_DATABASE_URL), else the SQLite file
 * in the data directory.
 */
import * as path from 'node:path';
import type { Store } from './store';
import type { StoreOptions } from './store.kysely';
import { SqliteStore, STORE_FILE } from './store.sqlite';
import { PostgresStore, redactUrl } from './store.postgres';

export interface StoreLocation {
  /** postgres://…; undefined for the SQLite file in dataDir */
  databaseUrl?: string;
  dataDir: string;
}

export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//.test(url);

/** The SQLite file of a data directory. */
export const storeFile = (dataDir: string): string => path.join(path.resolve(dataDir), STORE_FILE);

export function openStore(location: StoreLocation, options: StoreOptions & { readonly?: boolean } = {}): Promise<Store> {
  return location.databaseUrl ? PostgresStore.open(location.databaseUrl, options) : SqliteStore.open(storeFile(location.dataDir), options);
}

/** How messages name the store: the file, or the database URL without its password. */
export function describeStore(location: StoreLocation): string {
  return location.databaseUrl ? redactUrl(location.databaseUrl) : storeFile(location.dataDir);
}
