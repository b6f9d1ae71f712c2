/** The embedded store: one SQLite file in the data directory, WAL mode. */
import Database from 'better-sqlite3';
import { FlError, type ParticipantStatus, type Preprocessing } from '@fl/shared';
import type {
  Admission,
  InvitationRecord,
  JobRecord,
  ModelVersion,
  ParticipantRecord,
  RetainedUpdate,
  RoundEvaluation,
  RoundRecord,
  Store,
  StoredStrategyState,
  TokenRecord,
  UserRecord,
} from './store';

/** The store's file name in the data directory. */
export const STORE_FILE = 'coordinator.sqlite';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS participants (
  name TEXT PRIMARY KEY,
  organisation TEXT NOT NULL,
  public_key TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS invitations (
  id TEXT PRIMARY KEY,
  token_digest TEXT NOT NULL UNIQUE,
  organisation TEXT NOT NULL,
  country TEXT NOT NULL,
  name TEXT,
  expires_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  cancelled_at INTEGER,
  used_at INTEGER,
  used_by TEXT
);
CREATE TABLE IF NOT EXISTS users (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  label TEXT NOT NULL,
  digest TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER
);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY,
  record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS updates (
  job TEXT NOT NULL,
  round INTEGER NOT NULL,
  participant TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  weights BLOB NOT NULL,
  PRIMARY KEY (job, round, participant, sha256)
);
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  status TEXT NOT NULL,
  preprocessing TEXT,
  round INTEGER NOT NULL,
  error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  admission TEXT NOT NULL DEFAULT '{"reportedRows":{},"excluded":[]}'
);
CREATE TABLE IF NOT EXISTS rounds (
  job TEXT NOT NULL REFERENCES jobs(id),
  round INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  closed_at INTEGER NOT NULL,
  selected TEXT NOT NULL,
  contributors TEXT NOT NULL,
  failures TEXT NOT NULL,
  metrics TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  model_sha256 TEXT NOT NULL,
  evaluation TEXT,
  PRIMARY KEY (job, round)
);
CREATE TABLE IF NOT EXISTS strategy_states (
  job TEXT NOT NULL REFERENCES jobs(id),
  round INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  state BLOB NOT NULL,
  PRIMARY KEY (job, round)
);
CREATE TABLE IF NOT EXISTS models (
  job TEXT NOT NULL REFERENCES jobs(id),
  round INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  weights BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (job, round)
);
`;

const PARTICIPANT_COLUMNS =
  'name, organisation, country, public_key AS publicKey, status, invitation, decided_at AS decidedAt, decided_by AS decidedBy, created_at AS createdAt';
const INVITATION_COLUMNS =
  'id, token_digest AS tokenDigest, organisation, country, name, expires_at AS expiresAt, created_at AS createdAt, created_by AS createdBy, ' +
  'cancelled_at AS cancelledAt, used_at AS usedAt, used_by AS usedBy';
const USER_COLUMNS = 'name, role, password_hash AS passwordHash, created_at AS createdAt';
const TOKEN_COLUMNS = 'id, user, kind, label, digest, created_at AS createdAt, expires_at AS expiresAt';

interface JobRow {
  id: string;
  spec: string;
  status: JobRecord['status'];
  preprocessing: string | null;
  round: number;
  error: string | null;
  created_at: number;
  updated_at: number;
  admission: string;
}

interface RoundRow {
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

interface ModelRow {
  job: string;
  round: number;
  sha256: string;
  weights: Buffer;
  created_at: number;
}

const toJob = (row: JobRow): JobRecord => ({
  id: row.id,
  spec: JSON.parse(row.spec),
  status: row.status,
  preprocessing: row.preprocessing ? JSON.parse(row.preprocessing) : null,
  round: row.round,
  error: row.error,
  admission: JSON.parse(row.admission),
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const toRound = (row: RoundRow): RoundRecord => ({
  job: row.job,
  round: row.round,
  startedAt: row.started_at,
  closedAt: row.closed_at,
  selected: JSON.parse(row.selected),
  contributors: JSON.parse(row.contributors),
  failures: JSON.parse(row.failures),
  metrics: JSON.parse(row.metrics),
  attempts: row.attempts,
  modelSha256: row.model_sha256,
  evaluation: row.evaluation ? JSON.parse(row.evaluation) : null,
});

const toModel = (row: ModelRow): ModelVersion => ({
  job: row.job,
  round: row.round,
  sha256: row.sha256,
  // Copy into an aligned buffer: SQLite hands back a Buffer that may share a pool.
  weights: new Float32Array(new Uint8Array(row.weights).buffer),
  createdAt: row.created_at,
});

const modelBytes = (weights: Float32Array) => Buffer.from(weights.buffer, weights.byteOffset, weights.byteLength);

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly onTransaction: ((seconds: number) => void) | undefined;
  private readonly statements = new Map<string, Database.Statement>();
  /**
   * Participants as read by name, for the check of every message a participant
   * sends (its key and status): this process is the only one that writes them,
   * and every write empties it.
   */
  private readonly participantsByName = new Map<string, ParticipantRecord>();

  /** `readonly` opens an existing store without changing a byte of it, e.g. to verify its audit log. */
  /** `onTransaction` hears how long each outermost transaction took, in seconds (the metrics' histogram). */
  constructor(file: string, options: { readonly?: boolean; onTransaction?: (seconds: number) => void } = {}) {
    this.onTransaction = options.onTransaction;
    if (options.readonly) {
      this.db = new Database(file, { readonly: true, fileMustExist: true });
      return;
    }
    this.db = new Database(file);
    // Large pages for a store of model rows: a 4 MB model commits in ~3 ms instead of ~24 with 4 KiB
    // pages. It takes effect only on a new file, so it must come before WAL is switched on.
    this.db.pragma('page_size = 65536');
    // WAL: readers never block the round commit, and a crash mid-write leaves the last commit intact.
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    // Statement journals (a statement's undo inside a transaction) in memory, not in a temporary file:
    // a round's commit wrote each page its statements touched, 64 KiB at a time, to disk as well.
    this.db.pragma('temp_store = MEMORY');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(SCHEMA);
    this.migrate();
  }

  /** Columns added since the first schema; rows from before enrollment existed count as approved. */
  private migrate(): void {
    const columns = new Set((this.db.pragma('table_info(participants)') as { name: string }[]).map((c) => c.name));
    const added: [string, string][] = [
      ['country', "TEXT NOT NULL DEFAULT ''"],
      ['status', "TEXT NOT NULL DEFAULT 'approved'"],
      ['invitation', 'TEXT'],
      ['decided_at', 'INTEGER'],
      ['decided_by', 'TEXT'],
    ];
    for (const [name, type] of added) if (!columns.has(name)) this.db.exec(`ALTER TABLE participants ADD COLUMN ${name} ${type}`);
    const jobColumns = new Set((this.db.pragma('table_info(jobs)') as { name: string }[]).map((c) => c.name));
    if (!jobColumns.has('admission')) this.db.exec(`ALTER TABLE jobs ADD COLUMN admission TEXT NOT NULL DEFAULT '{"reportedRows":{},"excluded":[]}'`);
  }

  transaction<T>(fn: () => T): T {
    // A nested call joins the transaction under way rather than open a savepoint, which journals every
    // page it touches (64 KiB each here) for a partial rollback no caller makes: a failure inside aborts
    // the whole transaction.
    if (this.db.inTransaction) return fn();
    if (!this.onTransaction) return this.db.transaction(fn)();
    const start = process.hrtime.bigint();
    try {
      return this.db.transaction(fn)();
    } finally {
      this.onTransaction(Number(process.hrtime.bigint() - start) / 1e9);
    }
  }

  addParticipant(p: ParticipantRecord): void {
    this.participantsByName.clear();
    try {
      this.statement(
        `INSERT INTO participants (name, organisation, country, public_key, status, invitation, decided_at, decided_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(p.name, p.organisation, p.country, p.publicKey, p.status, p.invitation, p.decidedAt, p.decidedBy, p.createdAt);
    } catch (err) {
      if ((err as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT')) {
        throw new FlError('CONFLICT', 'a participant with this name or public key exists already');
      }
      throw err;
    }
  }

  getParticipant(name: string): ParticipantRecord | undefined {
    const cached = this.participantsByName.get(name);
    if (cached) return cached;
    const record = this.participantWhere('name', name);
    // Not inside a transaction: what it read may yet be rolled back.
    if (record && !this.db.inTransaction) this.participantsByName.set(name, record);
    return record;
  }

  getParticipantByKey(publicKey: string): ParticipantRecord | undefined {
    return this.participantWhere('public_key', publicKey);
  }

  private participantWhere(column: 'name' | 'public_key', value: string): ParticipantRecord | undefined {
    return this.statement(`SELECT ${PARTICIPANT_COLUMNS} FROM participants WHERE ${column} = ?`).get(value) as ParticipantRecord | undefined;
  }

  listParticipants(): ParticipantRecord[] {
    return this.statement(`SELECT ${PARTICIPANT_COLUMNS} FROM participants ORDER BY name`).all() as ParticipantRecord[];
  }

  setParticipantStatus(name: string, status: ParticipantStatus, decidedBy: string, at: number): void {
    this.participantsByName.clear();
    const { changes } = this.statement('UPDATE participants SET status = ?, decided_by = ?, decided_at = ? WHERE name = ?').run(status, decidedBy, at, name);
    if (changes === 0) throw new FlError('NOT_FOUND', `no participant ${name}`);
  }

  addInvitation(i: InvitationRecord): void {
    this.statement(
      `INSERT INTO invitations (id, token_digest, organisation, country, name, expires_at, created_at, created_by, cancelled_at, used_at, used_by)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(i.id, i.tokenDigest, i.organisation, i.country, i.name, i.expiresAt, i.createdAt, i.createdBy, i.cancelledAt, i.usedAt, i.usedBy);
  }

  getInvitation(id: string): InvitationRecord | undefined {
    return this.statement(`SELECT ${INVITATION_COLUMNS} FROM invitations WHERE id = ?`).get(id) as InvitationRecord | undefined;
  }

  getInvitationByDigest(tokenDigest: string): InvitationRecord | undefined {
    return this.statement(`SELECT ${INVITATION_COLUMNS} FROM invitations WHERE token_digest = ?`).get(tokenDigest) as InvitationRecord | undefined;
  }

  listInvitations(): InvitationRecord[] {
    return this.statement(`SELECT ${INVITATION_COLUMNS} FROM invitations ORDER BY created_at, id`).all() as InvitationRecord[];
  }

  closeInvitation(id: string, change: { usedBy: string; at: number } | { cancelledAt: number }): void {
    // Only an open invitation closes: the WHERE makes "used once" hold even against a race.
    const { changes } =
      'usedBy' in change
        ? this.statement('UPDATE invitations SET used_by = ?, used_at = ? WHERE id = ? AND used_at IS NULL AND cancelled_at IS NULL').run(change.usedBy, change.at, id)
        : this.statement('UPDATE invitations SET cancelled_at = ? WHERE id = ? AND used_at IS NULL AND cancelled_at IS NULL').run(change.cancelledAt, id);
    if (changes === 0) throw new FlError('CONFLICT', `invitation ${id} is not open`);
  }

  addUser(u: UserRecord): void {
    try {
      this.statement('INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)').run(u.name, u.role, u.passwordHash, u.createdAt);
    } catch (err) {
      if ((err as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT')) throw new FlError('CONFLICT', `a user ${u.name} exists already`);
      throw err;
    }
  }

  getUser(name: string): UserRecord | undefined {
    return this.statement(`SELECT ${USER_COLUMNS} FROM users WHERE name = ?`).get(name) as UserRecord | undefined;
  }

  listUsers(): UserRecord[] {
    return this.statement(`SELECT ${USER_COLUMNS} FROM users ORDER BY name`).all() as UserRecord[];
  }

  removeUser(name: string): void {
    this.transaction(() => {
      this.statement('DELETE FROM tokens WHERE user = ?').run(name);
      const { changes } = this.statement('DELETE FROM users WHERE name = ?').run(name);
      if (changes === 0) throw new FlError('NOT_FOUND', `no user ${name}`);
    });
  }

  addToken(t: TokenRecord): void {
    this.statement('INSERT INTO tokens (id, user, kind, label, digest, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(t.id, t.user, t.kind, t.label, t.digest, t.createdAt, t.expiresAt);
  }

  getTokenByDigest(digest: string): TokenRecord | undefined {
    return this.statement(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE digest = ?`).get(digest) as TokenRecord | undefined;
  }

  listTokens(kind: TokenRecord['kind']): TokenRecord[] {
    return this.statement(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE kind = ? ORDER BY created_at, id`).all(kind) as TokenRecord[];
  }

  removeToken(id: string): void {
    const { changes } = this.statement('DELETE FROM tokens WHERE id = ?').run(id);
    if (changes === 0) throw new FlError('NOT_FOUND', `no token ${id}`);
  }

  pruneTokens(now: number): void {
    this.statement('DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at <= ?').run(now);
  }

  appendAudit(seq: number, text: string): void {
    this.statement('INSERT INTO audit (seq, record) VALUES (?, ?)').run(seq, text);
  }

  auditHead(): { seq: number; hash: string } | undefined {
    // Read from the record itself, not a copy beside it: the chain continues from exactly what is stored.
    const row = this.statement('SELECT seq, record FROM audit ORDER BY seq DESC LIMIT 1').get() as { seq: number; record: string } | undefined;
    return row && { seq: row.seq, hash: (JSON.parse(row.record) as { hash: string }).hash };
  }

  auditRecords(after = 0, limit = -1): Iterable<{ seq: number; text: string }> {
    // Iterated, not loaded: a long-lived consortium's log can hold millions of records.
    return this.db.prepare('SELECT seq, record AS text FROM audit WHERE seq > ? ORDER BY seq LIMIT ?').iterate(after, limit) as Iterable<{
      seq: number;
      text: string;
    }>;
  }

  retainUpdate(u: RetainedUpdate): void {
    this.statement('INSERT OR REPLACE INTO updates (job, round, participant, sha256, weights) VALUES (?, ?, ?, ?, ?)')
      .run(u.job, u.round, u.participant, u.sha256, Buffer.from(u.weights.buffer, u.weights.byteOffset, u.weights.byteLength));
  }

  getRetainedUpdate(job: string, round: number, participant: string, sha256: string): Uint8Array | undefined {
    const row = this.statement('SELECT weights FROM updates WHERE job = ? AND round = ? AND participant = ? AND sha256 = ?')
      .get(job, round, participant, sha256) as { weights: Buffer } | undefined;
    return row && new Uint8Array(row.weights);
  }

  pruneUpdates(job: string, throughRound: number): void {
    this.statement('DELETE FROM updates WHERE job = ? AND round <= ?').run(job, throughRound);
  }

  getStrategyState(job: string): (StoredStrategyState & { round: number }) | undefined {
    const row = this.statement('SELECT round, sha256, state FROM strategy_states WHERE job = ? ORDER BY round DESC LIMIT 1').get(job) as
      | { round: number; sha256: string; state: Buffer }
      | undefined;
    return row && { round: row.round, sha256: row.sha256, bytes: new Uint8Array(row.state) };
  }

  getStrategyStateBytes(job: string, round: number): Uint8Array | undefined {
    const row = this.statement('SELECT state FROM strategy_states WHERE job = ? AND round = ?').get(job, round) as { state: Buffer } | undefined;
    return row && new Uint8Array(row.state);
  }

  getModelBytes(job: string, round: number): Uint8Array | undefined {
    const row = this.statement('SELECT weights FROM models WHERE job = ? AND round = ?').get(job, round) as { weights: Buffer } | undefined;
    return row && new Uint8Array(row.weights);
  }

  addJob(job: JobRecord): void {
    this.statement(
          'INSERT INTO jobs (id, spec, status, preprocessing, round, error, created_at, updated_at, admission) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          job.id,
          JSON.stringify(job.spec),
          job.status,
          job.preprocessing ? JSON.stringify(job.preprocessing) : null,
          job.round,
          job.error,
          job.createdAt,
          job.updatedAt,
          JSON.stringify(job.admission),
        );
  }

  getJob(id: string): JobRecord | undefined {
    const row = this.statement('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return row && toJob(row);
  }

  listJobs(): JobRecord[] {
    return (this.statement('SELECT * FROM jobs ORDER BY created_at, id').all() as JobRow[]).map(toJob);
  }

  updateJob(id: string, change: Partial<Pick<JobRecord, 'status' | 'error'>>): void {
    const current = this.getJob(id);
    if (!current) throw new FlError('NOT_FOUND', `no job ${id}`);
    const next = { ...current, ...change };
    this.statement('UPDATE jobs SET status = ?, error = ?, updated_at = ? WHERE id = ?').run(next.status, next.error, Date.now(), id);
  }

  beginTraining(id: string, preprocessing: Preprocessing, admission: Admission, initialModel: ModelVersion): void {
    this.db.transaction(() => {
      this.statement("UPDATE jobs SET status = 'training', preprocessing = ?, admission = ?, updated_at = ? WHERE id = ?")
        .run(JSON.stringify(preprocessing), JSON.stringify(admission), Date.now(), id);
      this.insertModel(initialModel);
    })();
  }

  commitRound(round: RoundRecord, model: ModelVersion, state?: StoredStrategyState): void {
    this.db.transaction(() => {
      // The guard that makes a round count once: it must be the next one. Only the
      // round is read: parsing the job's spec and statistics showed under perf at d = 1,000,000.
      const job = this.statement('SELECT round FROM jobs WHERE id = ?').get(round.job) as { round: number } | undefined;
      if (!job || job.round !== round.round - 1) {
        throw new FlError('CONFLICT', `round ${round.round} does not follow the committed round of ${round.job}`);
      }
      this.statement(
          `INSERT INTO rounds (job, round, started_at, closed_at, selected, contributors, failures, metrics, attempts, model_sha256, evaluation)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          round.job,
          round.round,
          round.startedAt,
          round.closedAt,
          JSON.stringify(round.selected),
          JSON.stringify(round.contributors),
          JSON.stringify(round.failures),
          JSON.stringify(round.metrics),
          round.attempts,
          round.modelSha256,
          round.evaluation ? JSON.stringify(round.evaluation) : null,
        );
      this.insertModel(model);
      if (state) {
        this.statement('INSERT INTO strategy_states (job, round, sha256, state) VALUES (?, ?, ?, ?)')
          .run(round.job, round.round, state.sha256, Buffer.from(state.bytes.buffer, state.bytes.byteOffset, state.bytes.byteLength));
      }
      this.statement('UPDATE jobs SET round = ?, updated_at = ? WHERE id = ?').run(round.round, Date.now(), round.job);
    })();
  }

  setRoundEvaluation(job: string, round: number, evaluation: RoundEvaluation): void {
    this.statement('UPDATE rounds SET evaluation = ? WHERE job = ? AND round = ?').run(JSON.stringify(evaluation), job, round);
  }

  private insertModel(model: ModelVersion): void {
    this.statement('INSERT INTO models (job, round, sha256, weights, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(model.job, model.round, model.sha256, modelBytes(model.weights), model.createdAt);
  }

  listRounds(job: string): RoundRecord[] {
    return (this.statement('SELECT * FROM rounds WHERE job = ? ORDER BY round').all(job) as RoundRow[]).map(toRound);
  }

  contributionCounts(): Map<string, number> {
    const rows = this.statement(
        `SELECT json_extract(c.value, '$.participant') AS participant, COUNT(*) AS rounds
         FROM rounds, json_each(rounds.contributors) AS c GROUP BY participant`,
      )
      .all() as { participant: string; rounds: number }[];
    return new Map(rows.map((r) => [r.participant, r.rounds]));
  }

  getRound(job: string, round: number): RoundRecord | undefined {
    const row = this.statement('SELECT * FROM rounds WHERE job = ? AND round = ?').get(job, round) as RoundRow | undefined;
    return row && toRound(row);
  }

  getModel(job: string, round?: number): ModelVersion | undefined {
    const row = (
      round === undefined
        ? this.statement('SELECT * FROM models WHERE job = ? ORDER BY round DESC LIMIT 1').get(job)
        : this.statement('SELECT * FROM models WHERE job = ? AND round = ?').get(job, round)
    ) as ModelRow | undefined;
    return row && toModel(row);
  }

  /** Each statement is compiled once: compiling on every call cost ~15% of verifying an update. */
  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  close(): void {
    this.db.close();
  }
}
