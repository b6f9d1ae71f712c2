/**
 * The coordinator's store, as interfaces: services depend on these, never on a
 * database. Every method is asynchronous; SQLite (store.sqlite.ts) is the
 * embedded default, PostgreSQL (store.postgres.ts) the production store, both
 * through one Kysely implementation (store.kysely.ts).
 */
import type { JobSpec, JobStatus, ParticipantStatus, Preprocessing, Role } from '@fl/shared';

export type { JobStatus };

export interface ParticipantRecord {
  name: string;
  organisation: string;
  /** ISO 3166 code or name, as the invitation said; '' when not given */
  country: string;
  /** base64 Ed25519 public key */
  publicKey: string;
  /** only an approved participant may connect and send */
  status: ParticipantStatus;
  /** the invitation it enrolled with; null when an admin registered it directly */
  invitation: string | null;
  /** the last approval, rejection or revocation: when and by whom */
  decidedAt: number | null;
  decidedBy: string | null;
  createdAt: number;
}

export interface UserRecord {
  name: string;
  role: Role;
  /** scrypt$N$r$p$salt$hash (see users/passwords.ts) */
  passwordHash: string;
  createdAt: number;
}

/** A bearer token: a login session (expires) or an API token for scripts (until revoked). Only its SHA-256 is stored. */
export interface TokenRecord {
  id: string;
  user: string;
  kind: 'session' | 'api';
  label: string;
  digest: string;
  createdAt: number;
  expiresAt: number | null;
}

export interface InvitationRecord {
  id: string;
  /** SHA-256 of the one-time token, which is shown once and never stored */
  tokenDigest: string;
  organisation: string;
  country: string;
  /** the participant name it is for, or null to let the site choose */
  name: string | null;
  expiresAt: number;
  createdAt: number;
  createdBy: string;
  cancelledAt: number | null;
  usedAt: number | null;
  /** the participant that enrolled with it */
  usedBy: string | null;
}

/** An update kept for the audit: the bytes a participant sent, as it signed them. */
export interface RetainedUpdate {
  job: string;
  round: number;
  participant: string;
  sha256: string;
  weights: Uint8Array;
}

export interface JobRecord {
  id: string;
  spec: JobSpec;
  status: JobStatus;
  /** set once the statistics phase has combined everyone's statistics */
  preprocessing: Preprocessing | null;
  /** the last committed round; 0 before the first */
  round: number;
  error: string | null;
  /** set with the preprocessing; empty before */
  admission: Admission;
  createdAt: number;
  updatedAt: number;
}

export interface RoundFailure {
  participant: string;
  reason: string;
  /** why, in one word: the code of what the coordinator refused (e.g. IMPLAUSIBLE_WEIGHTS) or the site reported (a SITE_FAILURE_CODES code) */
  code?: string;
}

/** Who the statistics phase admitted to a job, and who it left out; sites that connect later are added as their statistics come, and sites that spend their privacy budget are left out. */
export interface Admission {
  /** the rows each admitted site reported: no update or evaluation of theirs may claim more */
  reportedRows: Record<string, number>;
  /** sites left out of the job, by code: their statistics were implausible, or they reported their privacy budget spent (PRIVACY_BUDGET_SPENT) */
  excluded: RoundFailure[];
}

export interface RoundRecord {
  job: string;
  round: number;
  startedAt: number;
  closedAt: number;
  /** participants asked to train */
  selected: string[];
  /** participants whose update was folded in, with their sample counts */
  contributors: { participant: string; numSamples: number }[];
  failures: RoundFailure[];
  /** means of the metrics the contributors reported, weighted by sample counts capped at their lower median (strategy/metrics.ts) */
  metrics: Record<string, number>;
  /** how many times the round was started before it closed */
  attempts: number;
  modelSha256: string;
  /** federated evaluation of this round's global model, when the job asked for one */
  evaluation: RoundEvaluation | null;
}

export interface RoundEvaluation {
  /** means of the metrics participants measured on their held-out rows, weighted by example counts capped at their lower median */
  metrics: Record<string, number>;
  numExamples: number;
  participants: string[];
  /** the sites asked that did not evaluate, and why (a site's own report has its code); absent in records from before */
  failures?: RoundFailure[];
}

/** A strategy's state after a round, as stored (encodeState) and named in the round's audit record. */
export interface StoredStrategyState {
  sha256: string;
  bytes: Uint8Array;
}

export interface ModelVersion {
  job: string;
  /** the round that produced it; 0 is the initial model */
  round: number;
  sha256: string;
  weights: Float32Array;
  createdAt: number;
}

export interface ParticipantRepository {
  addParticipant(participant: ParticipantRecord): Promise<void>;
  getParticipant(name: string): Promise<ParticipantRecord | undefined>;
  getParticipantByKey(publicKey: string): Promise<ParticipantRecord | undefined>;
  listParticipants(): Promise<ParticipantRecord[]>;
  /** With `from`, only a participant whose status is one of them now changes (CONFLICT otherwise): two admins' decisions cannot both apply. */
  setParticipantStatus(name: string, status: ParticipantStatus, decidedBy: string, at: number, from?: readonly ParticipantStatus[]): Promise<void>;
  /** Those of `names` not approved now, read from the store (never a cached record), in one query. */
  unapprovedParticipants(names: readonly string[]): Promise<string[]>;
  addInvitation(invitation: InvitationRecord): Promise<void>;
  getInvitation(id: string): Promise<InvitationRecord | undefined>;
  getInvitationByDigest(tokenDigest: string): Promise<InvitationRecord | undefined>;
  listInvitations(): Promise<InvitationRecord[]>;
  /** Marks an invitation used (by a participant) or cancelled. */
  closeInvitation(id: string, change: { usedBy: string; at: number } | { cancelledAt: number }): Promise<void>;
}

export interface UserRepository {
  addUser(user: UserRecord): Promise<void>;
  getUser(name: string): Promise<UserRecord | undefined>;
  listUsers(): Promise<UserRecord[]>;
  /** Removes the user and every token of theirs. */
  removeUser(name: string): Promise<void>;
  addToken(token: TokenRecord): Promise<void>;
  getTokenByDigest(digest: string): Promise<TokenRecord | undefined>;
  listTokens(kind: TokenRecord['kind']): Promise<TokenRecord[]>;
  removeToken(id: string): Promise<void>;
  /** Forgets expired sessions. */
  pruneTokens(now: number): Promise<void>;
}

/** Which records of the audit log to read: those that match every filter given. */
/** A record as stored with what the filters read of it (auditIndexPage). */
export interface IndexedAuditRecord {
  seq: number;
  text: string;
  kind: string | null;
  job: string | null;
  participants: string[];
}

export interface AuditFilter {
  /** records of one of these kinds */
  kinds?: readonly string[];
  /** records whose data names this job (`data.job`) */
  job?: string;
  /** records about this participant (auditParticipants of @fl/shared) */
  participant?: string;
}

/** The audit log's storage: records as their exact text, and the updates kept to recompute aggregates. */
export interface AuditRepository {
  /**
   * Appends the record numbered `seq`, which must follow the head read in the same
   * transaction (auditHead): a seq taken already is refused with CONFLICT.
   */
  appendAudit(seq: number, text: string): Promise<void>;
  /**
   * Appends records in order, as appendAudit does one by one, in a few multi-row
   * statements: a round's thousands of update records cost one round trip per
   * batch, not one each. All or none are written; a seq taken already is refused
   * with CONFLICT.
   */
  appendAuditRecords(records: readonly { seq: number; text: string }[]): Promise<void>;
  /**
   * The last record's seq and hash; undefined for an empty log. Inside a
   * transaction it also makes the transaction the log's only writer until it
   * ends (a lock on PostgreSQL; SQLite has one writer anyway), so that the record
   * it appends next is the one after this head: the log stays gapless and in order.
   */
  auditHead(): Promise<{ seq: number; hash: string } | undefined>;
  /** records with seq > after, in order, as stored; read page by page */
  auditRecords(after?: number, limit?: number): AsyncIterable<{ seq: number; text: string }>;
  /**
   * A page of the records with seq between `after` and `before` (both left out)
   * that match the filter, in order: the first `limit` of them, or with `before`
   * the last `limit`; `more` says whether others match beyond the page (after
   * it, or with `before`, before it). Filtered in the database, on the index
   * beside the records (audit-index.ts), which indexAudit completes first.
   */
  auditPage(filter: AuditFilter, page: { after: number; before?: number; limit: number }): Promise<{ records: { seq: number; text: string }[]; more: boolean }>;
  /**
   * What the filters read of the records with seq > after (at most `limit` of
   * them, in order), for verification: each record's text, its kind and job
   * columns (null before it is indexed) and its participants' rows; `strays`, the
   * participants' rows of no record of the page where the page reaches the log's end.
   */
  auditIndexPage(after: number, limit: number): Promise<{ records: IndexedAuditRecord[]; strays: { seq: number; participant: string }[] }>;
  /**
   * Indexes the records written without their index (before the migration
   * that made it, or by a coordinator of an earlier release during a rolling
   * upgrade), if any: one indexed read when there are none. Done at the
   * store's start; outside a transaction, as it writes in transactions of its own.
   */
  indexAudit(): Promise<void>;
  retainUpdate(update: RetainedUpdate): Promise<void>;
  /** Retains updates as retainUpdate does each, in a few multi-row statements; the last of a repeated key wins. */
  retainUpdates(updates: readonly RetainedUpdate[]): Promise<void>;
  getRetainedUpdate(job: string, round: number, participant: string, sha256: string): Promise<Uint8Array | undefined>;
  /** Deletes the retained updates of a job's rounds up to and including `throughRound`. */
  pruneUpdates(job: string, throughRound: number): Promise<void>;
  /** A strategy state's stored bytes after a round of a job, as written. */
  getStrategyStateBytes(job: string, round: number): Promise<Uint8Array | undefined>;
  /** A model's stored bytes (Float32 little endian), as written. */
  getModelBytes(job: string, round: number): Promise<Uint8Array | undefined>;
}

export interface JobRepository {
  addJob(job: JobRecord): Promise<void>;
  getJob(id: string): Promise<JobRecord | undefined>;
  listJobs(): Promise<JobRecord[]>;
  updateJob(id: string, change: Partial<Pick<JobRecord, 'status' | 'error' | 'admission'>>): Promise<void>;
  /** Ends the statistics phase: stores the preprocessing, who was admitted and the initial model (round 0), in one transaction. */
  beginTraining(id: string, preprocessing: Preprocessing, admission: Admission, initialModel: ModelVersion): Promise<void>;
  /** Commits a closed round: its record, the new global model, the strategy's state and the job's round counter, in one transaction. */
  commitRound(round: RoundRecord, model: ModelVersion, state?: StoredStrategyState): Promise<void>;
  /** The state the job's strategy was left in by its last committed round; undefined before the first. */
  getStrategyState(job: string): Promise<(StoredStrategyState & { round: number }) | undefined>;
  /** Records the federated evaluation of a committed round. */
  setRoundEvaluation(job: string, round: number, evaluation: RoundEvaluation): Promise<void>;
  listRounds(job: string): Promise<RoundRecord[]>;
  getRound(job: string, round: number): Promise<RoundRecord | undefined>;
  /** How many committed rounds, over all jobs, folded in each participant's update. */
  contributionCounts(): Promise<Map<string, number>>;
  getModel(job: string, round?: number): Promise<ModelVersion | undefined>;
}

export interface Store extends ParticipantRepository, JobRepository, UserRepository, AuditRepository {
  /**
   * Runs fn in one transaction: a change and its audit record commit together or
   * not at all, and a failure rolls back everything fn wrote. Every store call made
   * while fn runs (awaited in it) takes part, found through the async context, so
   * callers keep calling the store as usual; a nested call joins the transaction
   * under way. `snapshot` makes every read see one moment (repeatable read), for
   * readers of the whole store such as the audit verifier.
   */
  transaction<T>(fn: () => Promise<T>, options?: { snapshot?: boolean }): Promise<T>;
  /**
   * Runs fn as the leader of a job (docs/adr/0029-job-leadership-and-epochs.md):
   * every transaction fn starts, and every single write it makes (then wrapped in
   * one), checks inside the transaction, before it commits, that the job's epoch
   * is still the fence's, or is refused with LeadershipLost and leaves nothing.
   * Only on PostgreSQL, where replicas share the store: on SQLite, one process,
   * it is fn() as it is. That is decided here alone: the round engine runs all of
   * a leader's work through it, whichever the election.
   */
  fenced<T>(fence: Fence, fn: () => Promise<T>): Promise<T>;
  /**
   * Inside a transaction: whether the job's epoch is still the fence's. A true
   * answer stays true until the transaction ends (the epoch's row is held, as
   * fenced holds it), so what the transaction then writes for that leader is
   * fenced too; false leaves the transaction as it was, to go on without it.
   * Always true on SQLite.
   */
  fenceHolds(fence: Fence): Promise<boolean>;
  /**
   * Runs fn once what has been written so far is committed: at once outside a
   * transaction; inside one, after the outermost commits (never if it rolls
   * back), outside its async context. For telling others of a change.
   */
  afterCommit(fn: () => void): void;
  /**
   * Runs fn if what has been written so far is rolled back: inside a
   * transaction, once the outermost rolls back, before its caller hears of it,
   * the latest given first (as undoing goes); never outside one. For taking
   * back what memory holds of the writes.
   */
  afterRollback(fn: () => void): void;
  /**
   * Forgets what this process may have cached of a participant's record, whose
   * status changed elsewhere (another replica sharing the database), so that the
   * next read sees the change.
   */
  forgetParticipant(name: string): void;
  close(): Promise<void>;
  /** false once closed */
  readonly isOpen: boolean;
}

/** A job's leader and its epoch, whose writes are checked against the stored epoch (job_leadership). */
export interface Fence {
  job: string;
  epoch: number;
}

export const STORE = Symbol('Store');

/** Reads an iterable of the store (e.g. auditRecords) to its end. */
export async function toArray<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
