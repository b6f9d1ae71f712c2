/**
 * The store on a relational database, through Kysely: one implementation for
 * SQLite (store.sqlite.ts) and PostgreSQL (store.postgres.ts), which differ only
 * in how they connect, a JSON query and the audit log's lock.
 *
 * Transactions travel in the async context (AsyncLocalStorage): a store call
 * made while a transaction's function runs is part of that transaction, so
 * services call the store the same way inside a transaction and outside.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { CompiledQuery, Migrator, sql, type Kysely, type Transaction } from 'kysely';
import { FlError, type ParticipantStatus, type Preprocessing } from '@fl/shared';
import { assertEpoch, currentEpoch, type Queryable } from '../cluster/leader-election';
import { auditIndexOf, indexAuditPage, participantRows } from './audit-index';
import { batches } from './batches';
import { migrationProvider, type Dialect, type JobsTable, type ModelsTable, type RoundsTable, type Tables } from './schema';
import type {
  Admission,
  AuditFilter,
  Fence,
  IndexedAuditRecord,
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

export interface StoreOptions {
  /** hears how long each outermost transaction took, in seconds (the metrics' histogram) */
  onTransaction?: (seconds: number) => void;
}

/** A transaction under way: `open` turns false when it ends, so that work it started and left running uses the store as usual. */
interface Scope {
  trx: Transaction<Tables>;
  open: boolean;
  /** whether it holds the audit log's lock (PostgreSQL); a snapshot, which reads only, never takes it */
  auditLocked: boolean;
  /** whether it wrote a participant: the cache is emptied again when it ends, committed or rolled back */
  participantsWritten: boolean;
  /** run once it commits (afterCommit) */
  committed: (() => void)[];
  /** run if it rolls back (afterRollback) */
  rolledBack: (() => void)[];
  /** the leaders' epochs checked before it commits (PostgreSQL only) */
  fences: Fence[];
}

/** Records read per query when iterating the audit log: a long-lived consortium's log can hold millions. */
const AUDIT_PAGE = 1000;

/** The PostgreSQL advisory lock that makes one transaction at a time the audit log's writer ("flau"). */
const AUDIT_LOCK = 0x666c6175;

/** A transaction as assertEpoch takes it: the check's SQL runs as it is, on the transaction's connection. */
const queryable = (trx: Transaction<Tables>): Queryable => ({
  query: async <R extends Record<string, unknown>>(text: string, values: unknown[] = []) => ({
    rows: (await trx.executeQuery(CompiledQuery.raw(text, values))).rows as R[],
  }),
});

/** Whether a transaction checks this fence before it commits. */
const checks = (scope: Scope, fence: Fence): boolean => scope.fences.some((f) => f.job === fence.job && f.epoch === fence.epoch);

const bytesOf = (view: Uint8Array | Float32Array): Buffer => Buffer.from(view.buffer, view.byteOffset, view.byteLength);

/** A unique or foreign key refused the row: SQLite's and PostgreSQL's codes. */
const isConstraintViolation = (err: unknown): boolean => {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CONSTRAINT') || code === '23505' || code === '23503');
};

const PARTICIPANT_COLUMNS = [
  'name',
  'organisation',
  'country',
  'public_key as publicKey',
  'status',
  'invitation',
  'decided_at as decidedAt',
  'decided_by as decidedBy',
  'created_at as createdAt',
] as const;
const INVITATION_COLUMNS = [
  'id',
  'token_digest as tokenDigest',
  'organisation',
  'country',
  'name',
  'expires_at as expiresAt',
  'created_at as createdAt',
  'created_by as createdBy',
  'cancelled_at as cancelledAt',
  'used_at as usedAt',
  'used_by as usedBy',
] as const;
const USER_COLUMNS = ['name', 'role', 'password_hash as passwordHash', 'created_at as createdAt'] as const;
const TOKEN_COLUMNS = ['id', 'user', 'kind', 'label', 'digest', 'created_at as createdAt', 'expires_at as expiresAt'] as const;

const toJob = (row: JobsTable): JobRecord => ({
  id: row.id,
  spec: JSON.parse(row.spec),
  status: row.status as JobRecord['status'],
  preprocessing: row.preprocessing ? JSON.parse(row.preprocessing) : null,
  round: row.round,
  error: row.error,
  admission: JSON.parse(row.admission),
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const toRound = (row: RoundsTable): RoundRecord => ({
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

const toModel = (row: ModelsTable): ModelVersion => ({
  job: row.job,
  round: row.round,
  sha256: row.sha256,
  // Copy into an aligned buffer: the driver hands back a Buffer that may share a pool.
  weights: new Float32Array(new Uint8Array(row.weights).buffer),
  createdAt: row.created_at,
});

export abstract class KyselyStore implements Store {
  private readonly scope = new AsyncLocalStorage<Scope>();
  /** the job whose leader is writing, in the async context of its run; set only by fenced(), on PostgreSQL */
  private readonly fence = new AsyncLocalStorage<Fence>();
  private open = true;
  /**
   * Participants as read by name, for the check of every message a participant
   * sends (its key and status): every write through this store empties it, and
   * a read that a write overtook is not kept.
   */
  private readonly participantsByName = new Map<string, ParticipantRecord>();
  private participantWrites = 0;

  protected constructor(
    private readonly kysely: Kysely<Tables>,
    private readonly dialect: Dialect,
    private readonly options: StoreOptions,
  ) {}

  /** Applies the migrations not applied yet (schema.ts), in order; then indexes the audit records written without their index. */
  protected async migrate(): Promise<void> {
    const migrator = new Migrator({ db: this.kysely, provider: migrationProvider(this.dialect) });
    const { error, results } = await migrator.migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName;
      throw new Error(`the store's ${failed ? `migration ${failed}` : 'migrations'} failed: ${(error as Error).message ?? String(error)}`);
    }
    await this.indexAudit();
  }

  /** The transaction under way in this async context, else the database. */
  private get db(): Kysely<Tables> {
    const scope = this.scope.getStore();
    return scope?.open ? scope.trx : this.kysely;
  }

  private get inTransaction(): boolean {
    return this.scope.getStore()?.open === true;
  }

  async transaction<T>(fn: () => Promise<T>, options: { snapshot?: boolean } = {}): Promise<T> {
    const fence = this.fence.getStore();
    const under = this.scope.getStore();
    if (under?.open) {
      // A nested call joins the transaction under way, which then checks its fence too.
      if (fence && !checks(under, fence)) under.fences.push(fence);
      return fn();
    }
    const start = process.hrtime.bigint();
    let builder = this.kysely.transaction();
    let scope: Scope | undefined;
    // SQLite: a transaction reads one snapshot already (WAL), and there is one writer.
    if (options.snapshot && this.dialect === 'postgres') builder = builder.setIsolationLevel('repeatable read');
    try {
      const result = await builder.execute(async (trx) => {
        scope = { trx, open: true, auditLocked: options.snapshot === true, participantsWritten: false, committed: [], rolledBack: [], fences: fence ? [fence] : [] };
        try {
          const value = await this.scope.run(scope, fn);
          // Last, just before the commit: a leader deposed meanwhile is refused here and its writes roll back.
          for (const f of scope.fences) await assertEpoch(queryable(trx), f.job, f.epoch);
          return value;
        } finally {
          scope.open = false;
        }
      });
      // Here, after the commit, in the caller's async context: outside the transaction.
      for (const fn of scope!.committed) fn();
      return result;
    } catch (err) {
      if (scope) for (const fn of scope.rolledBack.reverse()) fn();
      throw err;
    } finally {
      if (scope?.participantsWritten) this.forgetParticipants();
      this.options.onTransaction?.(Number(process.hrtime.bigint() - start) / 1e9);
    }
  }

  fenced<T>(fence: Fence, fn: () => Promise<T>): Promise<T> {
    // The one place that decides whether a job's writes are checked: SQLite is written by one process, which leads every job.
    return this.dialect === 'postgres' ? this.fence.run(fence, fn) : fn();
  }

  async fenceHolds(fence: Fence): Promise<boolean> {
    if (this.dialect !== 'postgres') return true;
    const scope = this.scope.getStore();
    if (!scope?.open) throw new Error(`the fence of job ${fence.job} is asked about outside a transaction, which alone keeps the answer true`);
    // Checked before the commit already, which it refuses if the fence has passed.
    if (checks(scope, fence)) return true;
    return (await currentEpoch(queryable(scope.trx), fence.job)) === fence.epoch;
  }

  /**
   * A single write a leader makes: in a transaction of its own, or the one under
   * way, which then checks the leader's epoch before it commits.
   */
  private write<T>(fn: () => Promise<T>): Promise<T> {
    return this.fence.getStore() ? this.transaction(fn) : fn();
  }

  /** Writes of several statements run in one transaction (the one under way, or their own), so that all or none are written. */
  private inOne(statements: number, fn: () => Promise<void>): Promise<void> {
    return statements > 1 ? this.transaction(fn) : this.write(fn);
  }

  afterCommit(fn: () => void): void {
    const scope = this.scope.getStore();
    if (scope?.open) scope.committed.push(fn);
    else fn();
  }

  afterRollback(fn: () => void): void {
    const scope = this.scope.getStore();
    if (scope?.open) scope.rolledBack.push(fn);
  }

  async addParticipant(p: ParticipantRecord): Promise<void> {
    this.participantWritten();
    try {
      await this.db
        .insertInto('participants')
        .values({
          name: p.name,
          organisation: p.organisation,
          country: p.country,
          public_key: p.publicKey,
          status: p.status,
          invitation: p.invitation,
          decided_at: p.decidedAt,
          decided_by: p.decidedBy,
          created_at: p.createdAt,
        })
        .execute();
    } catch (err) {
      if (isConstraintViolation(err)) throw new FlError('CONFLICT', 'a participant with this name or public key exists already');
      throw err;
    }
  }

  async getParticipant(name: string): Promise<ParticipantRecord | undefined> {
    const cached = this.participantsByName.get(name);
    if (cached) return cached;
    const writes = this.participantWrites;
    const inTransaction = this.inTransaction;
    const record = await this.participantWhere('name', name);
    // Not inside a transaction: what it read may yet be rolled back; nor when a write came meanwhile.
    if (record && !inTransaction && writes === this.participantWrites) this.participantsByName.set(name, record);
    return record;
  }

  getParticipantByKey(publicKey: string): Promise<ParticipantRecord | undefined> {
    return this.participantWhere('public_key', publicKey);
  }

  private async participantWhere(column: 'name' | 'public_key', value: string): Promise<ParticipantRecord | undefined> {
    return (await this.db.selectFrom('participants').select(PARTICIPANT_COLUMNS).where(column, '=', value).executeTakeFirst()) as ParticipantRecord | undefined;
  }

  async listParticipants(): Promise<ParticipantRecord[]> {
    return (await this.db.selectFrom('participants').select(PARTICIPANT_COLUMNS).orderBy('name').execute()) as ParticipantRecord[];
  }

  async unapprovedParticipants(names: readonly string[]): Promise<string[]> {
    const kept = new Set<string>();
    for (const batch of batches(names)) {
      const approved = await this.db.selectFrom('participants').select('name').where('name', 'in', batch).where('status', '=', 'approved').execute();
      for (const { name } of approved) kept.add(name);
    }
    return names.filter((n) => !kept.has(n));
  }

  async setParticipantStatus(name: string, status: ParticipantStatus, decidedBy: string, at: number, from?: readonly ParticipantStatus[]): Promise<void> {
    this.participantWritten();
    let update = this.db.updateTable('participants').set({ status, decided_by: decidedBy, decided_at: at }).where('name', '=', name);
    if (from) update = update.where('status', 'in', [...from]);
    const { numUpdatedRows } = await update.executeTakeFirst();
    this.forgetParticipants();
    if (numUpdatedRows > 0n) return;
    const now = await this.db.selectFrom('participants').select('status').where('name', '=', name).executeTakeFirst();
    if (!now) throw new FlError('NOT_FOUND', `no participant ${name}`);
    throw new FlError('CONFLICT', `participant ${name} is ${now.status} now: it cannot become ${status}`);
  }

  /** A participant is written: the cache forgets them now, and again when a transaction writing it ends. */
  private participantWritten(): void {
    this.forgetParticipants();
    const scope = this.scope.getStore();
    if (scope?.open) scope.participantsWritten = true;
  }

  forgetParticipant(name: string): void {
    // Counted as a write: a read of this record under way when the change is heard is not kept.
    this.participantWrites++;
    this.participantsByName.delete(name);
  }

  /** Empties the participant cache; a read under way when it is emptied is not kept (getParticipant). */
  private forgetParticipants(): void {
    this.participantWrites++;
    this.participantsByName.clear();
  }

  async addInvitation(i: InvitationRecord): Promise<void> {
    await this.db
      .insertInto('invitations')
      .values({
        id: i.id,
        token_digest: i.tokenDigest,
        organisation: i.organisation,
        country: i.country,
        name: i.name,
        expires_at: i.expiresAt,
        created_at: i.createdAt,
        created_by: i.createdBy,
        cancelled_at: i.cancelledAt,
        used_at: i.usedAt,
        used_by: i.usedBy,
      })
      .execute();
  }

  async getInvitation(id: string): Promise<InvitationRecord | undefined> {
    return (await this.db.selectFrom('invitations').select(INVITATION_COLUMNS).where('id', '=', id).executeTakeFirst()) as InvitationRecord | undefined;
  }

  async getInvitationByDigest(tokenDigest: string): Promise<InvitationRecord | undefined> {
    return (await this.db.selectFrom('invitations').select(INVITATION_COLUMNS).where('token_digest', '=', tokenDigest).executeTakeFirst()) as
      | InvitationRecord
      | undefined;
  }

  async listInvitations(): Promise<InvitationRecord[]> {
    return (await this.db.selectFrom('invitations').select(INVITATION_COLUMNS).orderBy('created_at').orderBy('id').execute()) as InvitationRecord[];
  }

  async closeInvitation(id: string, change: { usedBy: string; at: number } | { cancelledAt: number }): Promise<void> {
    // Only an open invitation closes: the WHERE makes "used once" hold even against a race.
    const { numUpdatedRows } = await this.db
      .updateTable('invitations')
      .set('usedBy' in change ? { used_by: change.usedBy, used_at: change.at } : { cancelled_at: change.cancelledAt })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .where('cancelled_at', 'is', null)
      .executeTakeFirst();
    if (numUpdatedRows === 0n) throw new FlError('CONFLICT', `invitation ${id} is not open`);
  }

  async addUser(u: UserRecord): Promise<void> {
    try {
      await this.db.insertInto('users').values({ name: u.name, role: u.role, password_hash: u.passwordHash, created_at: u.createdAt }).execute();
    } catch (err) {
      if (isConstraintViolation(err)) throw new FlError('CONFLICT', `a user ${u.name} exists already`);
      throw err;
    }
  }

  async getUser(name: string): Promise<UserRecord | undefined> {
    return (await this.db.selectFrom('users').select(USER_COLUMNS).where('name', '=', name).executeTakeFirst()) as UserRecord | undefined;
  }

  async listUsers(): Promise<UserRecord[]> {
    return (await this.db.selectFrom('users').select(USER_COLUMNS).orderBy('name').execute()) as UserRecord[];
  }

  removeUser(name: string): Promise<void> {
    return this.transaction(async () => {
      await this.db.deleteFrom('tokens').where('user', '=', name).execute();
      const { numDeletedRows } = await this.db.deleteFrom('users').where('name', '=', name).executeTakeFirst();
      if (numDeletedRows === 0n) throw new FlError('NOT_FOUND', `no user ${name}`);
    });
  }

  async addToken(t: TokenRecord): Promise<void> {
    await this.db
      .insertInto('tokens')
      .values({ id: t.id, user: t.user, kind: t.kind, label: t.label, digest: t.digest, created_at: t.createdAt, expires_at: t.expiresAt })
      .execute();
  }

  async getTokenByDigest(digest: string): Promise<TokenRecord | undefined> {
    return (await this.db.selectFrom('tokens').select(TOKEN_COLUMNS).where('digest', '=', digest).executeTakeFirst()) as TokenRecord | undefined;
  }

  async listTokens(kind: TokenRecord['kind']): Promise<TokenRecord[]> {
    return (await this.db.selectFrom('tokens').select(TOKEN_COLUMNS).where('kind', '=', kind).orderBy('created_at').orderBy('id').execute()) as TokenRecord[];
  }

  async removeToken(id: string): Promise<void> {
    const { numDeletedRows } = await this.db.deleteFrom('tokens').where('id', '=', id).executeTakeFirst();
    if (numDeletedRows === 0n) throw new FlError('NOT_FOUND', `no token ${id}`);
  }

  async pruneTokens(now: number): Promise<void> {
    await this.db.deleteFrom('tokens').where('expires_at', 'is not', null).where('expires_at', '<=', now).execute();
  }

  appendAudit(seq: number, text: string): Promise<void> {
    return this.appendAuditRecords([{ seq, text }]);
  }

  appendAuditRecords(records: readonly { seq: number; text: string }[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    const indexed = records.map(({ seq, text }) => ({ seq, text, index: auditIndexOf(text) }));
    const all = batches(indexed);
    const participants = batches(participantRows(indexed));
    return this.inOne(all.length + participants.length, async () => {
      for (const batch of all) {
        try {
          await this.db
            .insertInto('audit')
            .values(batch.map(({ seq, text, index }) => ({ seq, record: text, kind: index.kind, job: index.job })))
            .execute();
        } catch (err) {
          if (!isConstraintViolation(err)) throw err;
          const which = batch.length === 1 ? `audit record ${batch[0].seq}` : `one of audit records ${batch[0].seq}..${batch.at(-1)!.seq}`;
          throw new FlError('CONFLICT', `${which} exists already`);
        }
      }
      for (const batch of participants) await this.db.insertInto('audit_participants').values(batch).execute();
    });
  }

  async auditHead(): Promise<{ seq: number; hash: string } | undefined> {
    const scope = this.scope.getStore();
    if (scope?.open && !scope.auditLocked && this.dialect === 'postgres') {
      // Held until the transaction ends: a concurrent writer (another transaction, another replica)
      // waits here, then reads the head this one committed, so seq stays gapless and in order.
      await sql`SELECT pg_advisory_xact_lock(${AUDIT_LOCK})`.execute(scope.trx);
      scope.auditLocked = true;
    }
    // Read from the record itself, not a copy beside it: the chain continues from exactly what is stored.
    const row = await this.db.selectFrom('audit').select(['seq', 'record']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    return row && { seq: row.seq, hash: (JSON.parse(row.record) as { hash: string }).hash };
  }

  async *auditRecords(after = 0, limit = Infinity): AsyncIterable<{ seq: number; text: string }> {
    let last = after;
    let left = limit;
    while (left > 0) {
      const size = Math.min(AUDIT_PAGE, left);
      const page = await this.db.selectFrom('audit').select(['seq', 'record as text']).where('seq', '>', last).orderBy('seq').limit(size).execute();
      for (const row of page) yield row;
      if (page.length < size) return;
      last = page[page.length - 1].seq;
      left -= page.length;
    }
  }

  async auditPage(
    filter: AuditFilter,
    { after, before, limit }: { after: number; before?: number; limit: number },
  ): Promise<{ records: { seq: number; text: string }[]; more: boolean }> {
    const { kinds, job, participant } = filter;
    const backwards = before !== undefined;
    // Numbered, and ordered, by the participants' table when it is read: its key (participant, seq) then gives the page in order.
    const seq = sql.ref(participant === undefined ? 'audit.seq' : 'audit_participants.seq');
    const rows = await this.db
      .selectFrom('audit')
      .$if(participant !== undefined, (q) => q.innerJoin('audit_participants', 'audit_participants.seq', 'audit.seq').where('audit_participants.participant', '=', participant!))
      .select(['audit.seq', 'audit.record as text'])
      .where(seq, '>', after)
      .$if(backwards, (q) => q.where(seq, '<', before!))
      .$if(kinds !== undefined, (q) => q.where('audit.kind', 'in', [...kinds!]))
      .$if(job !== undefined, (q) => q.where('audit.job', '=', job!))
      .orderBy(seq, backwards ? 'desc' : 'asc')
      // One more than the page: whether others match beyond it.
      .limit(limit + 1)
      .execute();
    const more = rows.length > limit;
    const page = rows.slice(0, limit);
    return { records: backwards ? page.reverse() : page, more };
  }

  async auditIndexPage(after: number, limit: number): Promise<{ records: IndexedAuditRecord[]; strays: { seq: number; participant: string }[] }> {
    const rows = await this.db.selectFrom('audit').select(['seq', 'record as text', 'kind', 'job']).where('seq', '>', after).orderBy('seq').limit(limit).execute();
    // A full page leaves the rows after its last record to the next page; the last page reads every row after `after`.
    const last = rows.length === limit ? rows[rows.length - 1].seq : undefined;
    const named = await this.db
      .selectFrom('audit_participants')
      .select(['seq', 'participant'])
      .where('seq', '>', after)
      .$if(last !== undefined, (q) => q.where('seq', '<=', last!))
      .orderBy('seq')
      .orderBy('participant')
      .execute();
    const records = new Map(rows.map((row) => [row.seq, { ...row, participants: [] as string[] }]));
    const strays: { seq: number; participant: string }[] = [];
    for (const row of named) {
      const record = records.get(row.seq);
      if (record) record.participants.push(row.participant);
      else strays.push(row);
    }
    return { records: [...records.values()], strays };
  }

  async indexAudit(): Promise<void> {
    const unindexed = await this.db.selectFrom('audit').select('seq').where('kind', 'is', null).limit(1).executeTakeFirst();
    if (!unindexed) return;
    // A page a transaction, as the log's writer (its lock): two replicas index the same records one after the
    // other, and the log's writers, of an earlier release among them, wait for one page at most.
    let last = 0;
    for (;;) {
      const after = last;
      const next = await this.transaction(async () => {
        await this.auditHead();
        return indexAuditPage(this.db, after);
      });
      if (next === undefined) return;
      last = next;
    }
  }

  retainUpdate(u: RetainedUpdate): Promise<void> {
    return this.retainUpdates([u]);
  }

  retainUpdates(updates: readonly RetainedUpdate[]): Promise<void> {
    // One row per key, the last one: a statement may not update a row twice (PostgreSQL refuses it).
    const rows = [...new Map(updates.map((u) => [JSON.stringify([u.job, u.round, u.participant, u.sha256]), u])).values()].map((u) => ({
      job: u.job,
      round: u.round,
      participant: u.participant,
      sha256: u.sha256,
      weights: bytesOf(u.weights),
    }));
    if (rows.length === 0) return Promise.resolve();
    const all = batches(rows, (row) => row.weights.byteLength);
    return this.inOne(all.length, async () => {
      for (const batch of all) {
        await this.db
          .insertInto('updates')
          .values(batch)
          .onConflict((oc) => oc.columns(['job', 'round', 'participant', 'sha256']).doUpdateSet({ weights: (eb) => eb.ref('excluded.weights') }))
          .execute();
      }
    });
  }

  async getRetainedUpdate(job: string, round: number, participant: string, sha256: string): Promise<Uint8Array | undefined> {
    const row = await this.db
      .selectFrom('updates')
      .select('weights')
      .where('job', '=', job)
      .where('round', '=', round)
      .where('participant', '=', participant)
      .where('sha256', '=', sha256)
      .executeTakeFirst();
    return row && new Uint8Array(row.weights);
  }

  pruneUpdates(job: string, throughRound: number): Promise<void> {
    return this.write(async () => void (await this.db.deleteFrom('updates').where('job', '=', job).where('round', '<=', throughRound).execute()));
  }

  async getStrategyState(job: string): Promise<(StoredStrategyState & { round: number }) | undefined> {
    const row = await this.db.selectFrom('strategy_states').select(['round', 'sha256', 'state']).where('job', '=', job).orderBy('round', 'desc').limit(1).executeTakeFirst();
    return row && { round: row.round, sha256: row.sha256, bytes: new Uint8Array(row.state) };
  }

  async getStrategyStateBytes(job: string, round: number): Promise<Uint8Array | undefined> {
    const row = await this.db.selectFrom('strategy_states').select('state').where('job', '=', job).where('round', '=', round).executeTakeFirst();
    return row && new Uint8Array(row.state);
  }

  async getModelBytes(job: string, round: number): Promise<Uint8Array | undefined> {
    const row = await this.db.selectFrom('models').select('weights').where('job', '=', job).where('round', '=', round).executeTakeFirst();
    return row && new Uint8Array(row.weights);
  }

  async addJob(job: JobRecord): Promise<void> {
    await this.db
      .insertInto('jobs')
      .values({
        id: job.id,
        spec: JSON.stringify(job.spec),
        status: job.status,
        preprocessing: job.preprocessing ? JSON.stringify(job.preprocessing) : null,
        round: job.round,
        error: job.error,
        created_at: job.createdAt,
        updated_at: job.updatedAt,
        admission: JSON.stringify(job.admission),
      })
      .execute();
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    const row = await this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toJob(row);
  }

  async listJobs(): Promise<JobRecord[]> {
    return (await this.db.selectFrom('jobs').selectAll().orderBy('created_at').orderBy('id').execute()).map(toJob);
  }

  updateJob(id: string, change: Partial<Pick<JobRecord, 'status' | 'error' | 'admission'>>): Promise<void> {
    return this.write(async () => {
      const { numUpdatedRows } = await this.db
        .updateTable('jobs')
        .set({
          ...(change.status !== undefined && { status: change.status }),
          ...('error' in change && { error: change.error ?? null }),
          ...(change.admission !== undefined && { admission: JSON.stringify(change.admission) }),
          updated_at: Date.now(),
        })
        .where('id', '=', id)
        .executeTakeFirst();
      if (numUpdatedRows === 0n) throw new FlError('NOT_FOUND', `no job ${id}`);
    });
  }

  beginTraining(id: string, preprocessing: Preprocessing, admission: Admission, initialModel: ModelVersion): Promise<void> {
    return this.transaction(async () => {
      await this.db
        .updateTable('jobs')
        .set({ status: 'training', preprocessing: JSON.stringify(preprocessing), admission: JSON.stringify(admission), updated_at: Date.now() })
        .where('id', '=', id)
        .execute();
      await this.insertModel(initialModel);
    });
  }

  commitRound(round: RoundRecord, model: ModelVersion, state?: StoredStrategyState): Promise<void> {
    return this.transaction(async () => {
      // The guard that makes a round count once: it must be the next one. Only the round is read
      // (parsing the job's spec and statistics showed under perf at d = 1,000,000); on PostgreSQL the
      // row stays locked until the commit, so that two committers of one round cannot both pass it.
      const job = await this.db
        .selectFrom('jobs')
        .select('round')
        .where('id', '=', round.job)
        .$if(this.dialect === 'postgres', (q) => q.forUpdate())
        .executeTakeFirst();
      if (!job || job.round !== round.round - 1) {
        throw new FlError('CONFLICT', `round ${round.round} does not follow the committed round of ${round.job}`);
      }
      await this.db
        .insertInto('rounds')
        .values({
          job: round.job,
          round: round.round,
          started_at: round.startedAt,
          closed_at: round.closedAt,
          selected: JSON.stringify(round.selected),
          contributors: JSON.stringify(round.contributors),
          failures: JSON.stringify(round.failures),
          metrics: JSON.stringify(round.metrics),
          attempts: round.attempts,
          model_sha256: round.modelSha256,
          evaluation: round.evaluation ? JSON.stringify(round.evaluation) : null,
        })
        .execute();
      await this.insertModel(model);
      if (state) {
        await this.db.insertInto('strategy_states').values({ job: round.job, round: round.round, sha256: state.sha256, state: bytesOf(state.bytes) }).execute();
      }
      await this.db.updateTable('jobs').set({ round: round.round, updated_at: Date.now() }).where('id', '=', round.job).execute();
    });
  }

  setRoundEvaluation(job: string, round: number, evaluation: RoundEvaluation): Promise<void> {
    return this.write(
      async () => void (await this.db.updateTable('rounds').set({ evaluation: JSON.stringify(evaluation) }).where('job', '=', job).where('round', '=', round).execute()),
    );
  }

  private async insertModel(model: ModelVersion): Promise<void> {
    await this.db
      .insertInto('models')
      .values({ job: model.job, round: model.round, sha256: model.sha256, weights: bytesOf(model.weights), created_at: model.createdAt })
      .execute();
  }

  async listRounds(job: string): Promise<RoundRecord[]> {
    return (await this.db.selectFrom('rounds').selectAll().where('job', '=', job).orderBy('round').execute()).map(toRound);
  }

  async contributionCounts(): Promise<Map<string, number>> {
    const query =
      this.dialect === 'postgres'
        ? sql<{ participant: string; rounds: number }>`SELECT c->>'participant' AS participant, COUNT(*) AS rounds
            FROM rounds, jsonb_array_elements(rounds.contributors::jsonb) AS c GROUP BY 1`
        : sql<{ participant: string; rounds: number }>`SELECT json_extract(c.value, '$.participant') AS participant, COUNT(*) AS rounds
            FROM rounds, json_each(rounds.contributors) AS c GROUP BY participant`;
    const { rows } = await query.execute(this.db);
    return new Map(rows.map((r) => [r.participant, Number(r.rounds)]));
  }

  async getRound(job: string, round: number): Promise<RoundRecord | undefined> {
    const row = await this.db.selectFrom('rounds').selectAll().where('job', '=', job).where('round', '=', round).executeTakeFirst();
    return row && toRound(row);
  }

  async getModel(job: string, round?: number): Promise<ModelVersion | undefined> {
    const row = await this.db
      .selectFrom('models')
      .selectAll()
      .where('job', '=', job)
      .$if(round !== undefined, (q) => q.where('round', '=', round!))
      .orderBy('round', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row && toModel(row);
  }

  get isOpen(): boolean {
    return this.open;
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.kysely.destroy();
  }
}
