/** The production store: PostgreSQL, through Kysely (store.kysely.ts) over a pg pool. */
import { Kysely, PostgresDialect } from 'kysely';
import { Pool, types } from 'pg';
import { SILENT_REPLICA_MS } from '../cluster/leader-election';
import { KyselyStore, type StoreOptions } from './store.kysely';
import type { Tables } from './schema';

/** BIGINT (times in milliseconds, counts) read back as numbers, not strings: every value stored is below 2^53. */
const INT8 = 20;
const typeParser = ((oid: number, format?: 'text' | 'binary') =>
  oid === INT8 ? (value: string) => Number(value) : types.getTypeParser(oid, format)) as typeof types.getTypeParser;

/** A database URL with its password masked, for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the database URL (unparsable)';
  }
}

export class PostgresStore extends KyselyStore {
  /** Connects to `url` (postgres://user:password@host:port/database) and applies the migrations it lacks, unless `readonly`. */
  static async open(url: string, options: StoreOptions & { readonly?: boolean; maxConnections?: number; silentMs?: number } = {}): Promise<PostgresStore> {
    const pool = new Pool({
      connectionString: url,
      max: options.maxConnections ?? 10,
      types: { getTypeParser: typeParser },
      idle_in_transaction_session_timeout: options.silentMs ?? SILENT_REPLICA_MS,
    });
    // A client's error (the server restarted, or ended a silent transaction) must not end the process: an idle one
    // the pool replaces, and a transaction holding one fails at its next query.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    const store = new PostgresStore(new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) }), 'postgres', options);
    try {
      if (!options.readonly) await store.migrate();
      else await store.listUsers();
    } catch (err) {
      await store.close();
      throw new Error(`cannot open the store at ${redactUrl(url)}: ${(err as Error).message}`);
    }
    return store;
  }
}
