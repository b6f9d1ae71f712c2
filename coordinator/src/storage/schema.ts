/**
 * The store's tables as Kysely sees them, and the versioned migrations that make
 * them, for SQLite and PostgreSQL. JSON values are kept as text in both, binary
 * values as BLOB (SQLite) or bytea (PostgreSQL), times as milliseconds since the
 * epoch (BIGINT on PostgreSQL, read back as numbers).
 */
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

export interface ParticipantsTable {
  name: string;
  organisation: string;
  country: string;
  public_key: string;
  status: string;
  invitation: string | null;
  decided_at: number | null;
  decided_by: string | null;
  created_at: number;
}

export interface InvitationsTable {
  id: string;
  token_digest: string;
  organisation: string;
  country: string;
  name: string | null;
  expires_at: number;
  created_at: number;
  created_by: string;
  cancelled_at: number | null;
  used_at: number | null;
  used_by: string | null;
}

export interface UsersTable {
  name: string;
  role: string;
  password_hash: string;
  created_at: number;
}

export interface TokensTable {
  id: string;
  user: string;
  kind: string;
  label: string;
  digest: string;
  created_at: number;
  expires_at: number | null;
}

export interface AuditTable {
  seq: number;
  /** the record's text, byte for byte as sealed */
  record: string;
  /** what the log is filtered by, read from the text (audit-index.ts); null until indexed */
  kind: string | null;
  job: string | null;
}

/** The participants each audit record is about (auditParticipants), for the log's participant filter. */
export interface AuditParticipantsTable {
  participant: string;
  seq: number;
}

export interface UpdatesTable {
  job: string;
  round: number;
  participant: string;
  sha256: string;
  weights: Uint8Array;
}

export interface JobsTable {
  id: string;
  spec: string;
  status: string;
  preprocessing: string | null;
  round: number;
  error: string | null;
  created_at: number;
  updated_at: number;
  admission: string;
}

export interface RoundsTable {
  job: string;
  round: number;
  started_at: number;
  closed_at: number;
  selected: string;
  contributors: string;
  failures: string;
  metrics: string;
  attempts: number;
  model_sha256: string;
  evaluation: string | null;
}

export interface StrategyStatesTable {
  job: string;
  round: number;
  sha256: string;
  state: Uint8Array;
}

export interface ModelsTable {
  job: string;
  round: number;
  sha256: string;
  weights: Uint8Array;
  created_at: number;
}

/** Who leads each job, and the epoch its writes are checked against (docs/adr/0029-job-leadership-and-epochs.md). */
export interface JobLeadershipTable {
  job: string;
  epoch: number;
  leader: string;
  taken_at: number;
}

export interface Tables {
  participants: ParticipantsTable;
  invitations: InvitationsTable;
  users: UsersTable;
  tokens: TokensTable;
  audit: AuditTable;
  audit_participants: AuditParticipantsTable;
  updates: UpdatesTable;
  jobs: JobsTable;
  rounds: RoundsTable;
  strategy_states: StrategyStatesTable;
  models: ModelsTable;
  job_leadership: JobLeadershipTable;
}

export type Dialect = 'sqlite' | 'postgres';

const EMPTY_ADMISSION = `'{"reportedRows":{},"excluded":[]}'`;

/**
 * The first schema, as the embedded store has always made it. On SQLite every
 * table is created only if missing and columns added since the first release are
 * added when absent, so a data directory from before versioned migrations is
 * adopted as it is.
 */
function initialSchema(dialect: Dialect): string[] {
  const time = dialect === 'postgres' ? 'BIGINT' : 'INTEGER';
  const bytes = dialect === 'postgres' ? 'BYTEA' : 'BLOB';
  const user = dialect === 'postgres' ? '"user"' : 'user';
  return [
    `CREATE TABLE IF NOT EXISTS participants (
      name TEXT PRIMARY KEY,
      organisation TEXT NOT NULL,
      public_key TEXT NOT NULL UNIQUE,
      created_at ${time} NOT NULL
    )`,
    `CREATE TABLE IF NOT EXISTS invitations (
      id TEXT PRIMARY KEY,
      token_digest TEXT NOT NULL UNIQUE,
      organisation TEXT NOT NULL,
      country TEXT NOT NULL,
      name TEXT,
      expires_at ${time} NOT NULL,
      created_at ${time} NOT NULL,
      created_by TEXT NOT NULL,
      cancelled_at ${time},
      used_at ${time},
      used_by TEXT
    )`,
    `CREATE TABLE IF NOT EXISTS users (
      name TEXT PRIMARY KEY,
      role TEXT NOT NULL,
      password_hash TEXT NOT NULL,
      created_at ${time} NOT NULL
    )`,
    `CREATE TABLE IF NOT EXISTS tokens (
      id TEXT PRIMARY KEY,
      ${user} TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
      kind TEXT NOT NULL,
      label TEXT NOT NULL,
      digest TEXT NOT NULL UNIQUE,
      created_at ${time} NOT NULL,
      expires_at ${time}
    )`,
    `CREATE TABLE IF NOT EXISTS audit (
      seq INTEGER PRIMARY KEY,
      record TEXT NOT NULL
    )`,
    `CREATE TABLE IF NOT EXISTS updates (
      job TEXT NOT NULL,
      round INTEGER NOT NULL,
      participant TEXT NOT NULL,
      sha256 TEXT NOT NULL,
      weights ${bytes} NOT NULL,
      PRIMARY KEY (job, round, participant, sha256)
    )`,
    `CREATE TABLE IF NOT EXISTS jobs (
      id TEXT PRIMARY KEY,
      spec TEXT NOT NULL,
      status TEXT NOT NULL,
      preprocessing TEXT,
      round INTEGER NOT NULL,
      error TEXT,
      created_at ${time} NOT NULL,
      updated_at ${time} NOT NULL,
      admission TEXT NOT NULL DEFAULT ${EMPTY_ADMISSION}
    )`,
    `CREATE TABLE IF NOT EXISTS rounds (
      job TEXT NOT NULL REFERENCES jobs(id),
      round INTEGER NOT NULL,
      started_at ${time} NOT NULL,
      closed_at ${time} NOT NULL,
      selected TEXT NOT NULL,
      contributors TEXT NOT NULL,
      failures TEXT NOT NULL,
      metrics TEXT NOT NULL,
      attempts INTEGER NOT NULL,
      model_sha256 TEXT NOT NULL,
      evaluation TEXT,
      PRIMARY KEY (job, round)
    )`,
    `CREATE TABLE IF NOT EXISTS strategy_states (
      job TEXT NOT NULL REFERENCES jobs(id),
      round INTEGER NOT NULL,
      sha256 TEXT NOT NULL,
      state ${bytes} NOT NULL,
      PRIMARY KEY (job, round)
    )`,
    `CREATE TABLE IF NOT EXISTS models (
      job TEXT NOT NULL REFERENCES jobs(id),
      round INTEGER NOT NULL,
      sha256 TEXT NOT NULL,
      weights ${bytes} NOT NULL,
      created_at ${time} NOT NULL,
      PRIMARY KEY (job, round)
    )`,
  ];
}

/** Columns the first releases added to existing tables; rows from before enrollment existed count as approved. */
const ADDED_COLUMNS: [table: string, column: string, type: (time: string) => string][] = [
  ['participants', 'country', () => "TEXT NOT NULL DEFAULT ''"],
  ['participants', 'status', () => "TEXT NOT NULL DEFAULT 'approved'"],
  ['participants', 'invitation', () => 'TEXT'],
  ['participants', 'decided_at', (time) => time],
  ['participants', 'decided_by', () => 'TEXT'],
  ['jobs', 'admission', () => `TEXT NOT NULL DEFAULT ${EMPTY_ADMISSION}`],
];

async function columnsOf(db: Kysely<unknown>, dialect: Dialect, table: string): Promise<Set<string>> {
  const rows =
    dialect === 'sqlite'
      ? (await sql<{ name: string }>`SELECT name FROM pragma_table_info(${table})`.execute(db)).rows
      : (await sql<{ name: string }>`SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ${table}`.execute(db)).rows;
  return new Set(rows.map((r) => r.name));
}

/** The migrations in code, by name in the order they apply; a new one gets the next number. */
export function migrations(dialect: Dialect): Record<string, Migration> {
  const time = dialect === 'postgres' ? 'BIGINT' : 'INTEGER';
  return {
    '0001_initial': {
      async up(db) {
        for (const statement of initialSchema(dialect)) await sql.raw(statement).execute(db);
        for (const [table, column, type] of ADDED_COLUMNS) {
          if (!(await columnsOf(db, dialect, table)).has(column)) await sql.raw(`ALTER TABLE ${table} ADD COLUMN ${column} ${type(time)}`).execute(db);
        }
      },
    },
    // The epochs' one definition, written by the leader election on PostgreSQL (cluster/leader-election.ts); on SQLite,
    // one process, it stays empty but exists, so that both schemas are the same.
    '0002_job_leadership': {
      async up(db) {
        await sql.raw(`CREATE TABLE job_leadership (
          job TEXT PRIMARY KEY,
          epoch BIGINT NOT NULL,
          leader TEXT NOT NULL,
          taken_at ${time} NOT NULL
        )`).execute(db);
      },
    },
    // The audit log's filters (GET /api/audit?kind=&job=&participant=), read in the database: the records as they
    // were, and beside them what each is filtered by, null until the store indexes it (audit-index.ts), at its start.
    '0003_audit_index': {
      async up(db) {
        await sql.raw('ALTER TABLE audit ADD COLUMN kind TEXT').execute(db);
        await sql.raw('ALTER TABLE audit ADD COLUMN job TEXT').execute(db);
        await sql.raw('CREATE INDEX audit_kind ON audit (kind, seq)').execute(db);
        await sql.raw('CREATE INDEX audit_job ON audit (job, seq)').execute(db);
        await sql.raw(`CREATE TABLE audit_participants (
          participant TEXT NOT NULL,
          seq INTEGER NOT NULL,
          PRIMARY KEY (participant, seq)
        )`).execute(db);
      },
    },
    // Verification holds the index to the records a page at a time, reading the participants' rows by record.
    '0004_audit_participants_by_record': {
      async up(db) {
        await sql.raw('CREATE INDEX audit_participants_seq ON audit_participants (seq)').execute(db);
      },
    },
  };
}

export const migrationProvider = (dialect: Dialect): MigrationProvider => ({ getMigrations: async () => migrations(dialect) });
