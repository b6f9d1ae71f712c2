/**
 * The audit log's record format: append-only and hash-chained. Each record holds
 * the hash of the one before it, its own hash over everything else it says, and
 * the coordinator's signature of that hash. Changing, removing or inserting a
 * record breaks the chain from there on; only the holder of the coordinator key
 * could re-sign a rewritten chain, and participants hold signed evidence (their
 * own updates' signatures, the coordinator's signed instructions) to catch that.
 *
 * A record is stored as the canonical JSON of AuditRecord, byte for byte, so a
 * verifier can insist on the exact bytes. Its `version` names the protocol
 * version whose canonical JSON and signatures it uses (crypto/canonical.ts):
 * absent in records written before version 2, which verify as they were made.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalJsonOf, PROTOCOL_VERSION, type ProtocolVersion } from '../crypto/canonical';
import { defaultEngine, signHeader, verifyHeader } from '../crypto/keys';
import { UpdateHeaderSchema } from '../protocol/messages';
import { AUDIT_KINDS, type AuditKind } from './kinds';
import { AdvertisementSchema, SecAggReplyHeaderSchema } from '../secagg/messages';
import { StrategySpecSchema } from '../strategy/spec';

/** The `prev` of the first record. */
export const AUDIT_GENESIS = '0'.repeat(64);

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');
const Name = z.string().min(1).max(200);

/** What each kind of record says. The kinds are the auditable acts; their data is all a verifier needs. */
export const AUDIT_DATA = {
  /** the first record: the key that signs every record after it */
  'coordinator.key': z.strictObject({ publicKey: z.string(), fingerprint: z.string() }),
  'user.added': z.strictObject({ name: Name, role: z.enum(['admin', 'viewer']) }),
  'user.removed': z.strictObject({ name: Name }),
  'token.created': z.strictObject({ id: Name, user: Name, label: z.string().max(200) }),
  'token.revoked': z.strictObject({ id: Name, user: Name }),
  'invitation.created': z.strictObject({
    id: Name,
    organisation: Name,
    country: z.string(),
    name: Name.nullable(),
    expiresAt: z.number().int(),
    /** the one-time token itself is never recorded, only its hash */
    tokenSha256: Sha256,
  }),
  'invitation.cancelled': z.strictObject({ id: Name }),
  /** a participant's key registered through an invitation; it waits for approval */
  'participant.enrolled': z.strictObject({
    name: Name,
    organisation: Name,
    country: z.string(),
    publicKey: z.string(),
    invitation: Name,
  }),
  /** a participant's key registered directly by an admin: approved at once */
  'participant.registered': z.strictObject({ name: Name, organisation: Name, country: z.string(), publicKey: z.string() }),
  'participant.approved': z.strictObject({ name: Name }),
  'participant.rejected': z.strictObject({ name: Name, reason: z.string().max(1000) }),
  'participant.revoked': z.strictObject({ name: Name, reason: z.string().max(1000) }),
  'job.created': z.strictObject({ job: Name, spec: z.record(z.string(), z.unknown()) }),
  'job.control': z.strictObject({ job: Name, action: z.enum(['pause', 'resume', 'stop']) }),
  /**
   * a leader took the job up again after its committed round `round` (a restart, a new leader): an attempt of
   * round + 1 under way before was abandoned, and the updates it acknowledged were never recorded
   */
  'job.resumed': z.strictObject({ job: Name, round: z.number().int().nonnegative() }),
  /** round 0: the model the statistics phase started the job from */
  'model.initial': z.strictObject({ job: Name, round: z.literal(0), sha256: Sha256, size: z.number().int().nonnegative(), signature: z.string() }),
  /** an update the coordinator accepted: the participant's signed header proves what it sent */
  'update.accepted': z.strictObject({
    job: Name,
    round: z.number().int().positive(),
    participant: Name,
    sha256: Sha256,
    numSamples: z.number().int().positive(),
    header: UpdateHeaderSchema,
    signature: z.string(),
    retained: z.boolean(),
  }),
  /** an update the coordinator left out of its round (implausible content): the participant's signed header proves what it claimed */
  'update.excluded': z.strictObject({
    job: Name,
    round: z.number().int().positive(),
    participant: Name,
    code: Name,
    reason: z.string().max(1000),
    header: UpdateHeaderSchema,
    signature: z.string(),
  }),
  /** a site left out of the rest of the job: its statistics were implausible (they are not recorded: they describe its data), or it reported its privacy budget spent */
  'statistics.excluded': z.strictObject({ job: Name, participant: Name, code: Name, reason: z.string().max(1000) }),
  /** a masked input the coordinator accepted in a secure-aggregation round: the participant's signed header names its SHA-256 */
  'secagg.input': z.strictObject({
    job: Name,
    /** 0: the statistics phase's input, the site's statistics vector; −2 and −1: its vocabulary rounds' */
    round: z.number().int().min(-2),
    participant: Name,
    sha256: Sha256,
    header: SecAggReplyHeaderSchema,
    signature: z.string(),
    retained: z.boolean(),
  }),
  /**
   * what removes the masks of a secure round's inputs: the keys each party
   * signed, who shared keys, and the rebuilt secrets (survivors' seeds, dropped
   * parties' mask keys; never both for one party)
   */
  'secagg.unmasked': z.strictObject({
    job: Name,
    round: z.number().int().min(-2),
    participants: z.array(Name),
    neighbours: z.number().int().positive(),
    threshold: z.number().int().positive(),
    /** a training round's: how its updates were quantized */
    quantization: z.strictObject({ range: z.number().positive(), levels: z.number().int().positive(), maxWeight: z.number().int().positive() }).optional(),
    /** the statistics round's: words per ring element (secagg/statistics.ts) */
    width: z.number().int().positive().optional(),
    adverts: z.array(AdvertisementSchema),
    sharers: z.array(Name),
    seeds: z.record(Name, z.string()),
    maskKeys: z.record(Name, z.string()),
  }),
  /**
   * a secure job's gathered vocabularies (secagg/vocabulary.ts): for the
   * presence round (−2) and the values round (−1), the contributors' masked
   * inputs and the SHA-256 of the unmasked sum; the buckets asked for their
   * values, and the categories revealed, per gathered feature
   */
  'vocabulary.secure': z.strictObject({
    job: Name,
    presence: z.strictObject({ contributors: z.array(z.strictObject({ participant: Name, sha256: Sha256 })), sumSha256: Sha256 }),
    values: z.strictObject({ contributors: z.array(z.strictObject({ participant: Name, sha256: Sha256 })), sumSha256: Sha256 }),
    frequentBuckets: z.array(z.array(z.number().int().nonnegative())),
    categories: z.array(z.array(z.string())),
  }),
  /**
   * a secure job's statistics: the SHA-256 of the unmasked sum of the sites'
   * statistics vectors (Uint32 little-endian), the contributors' masked inputs
   * it is the sum of, and the preprocessing made of it; no site's statistics
   */
  'statistics.secure': z.strictObject({
    job: Name,
    contributors: z.array(z.strictObject({ participant: Name, sha256: Sha256 })),
    sumSha256: Sha256,
    preprocessingSha256: Sha256,
  }),
  /** retention policy: the retained updates of rounds up to `throughRound` were deleted on purpose */
  'updates.pruned': z.strictObject({ job: Name, throughRound: z.number().int().nonnegative() }),
  /**
   * a committed global model: the strategy's aggregate of the contributors'
   * updates, in this order, over `previous` and the state the round before left;
   * a record without `strategy` (written before strategies were recorded) is FedAvg
   */
  'model.committed': z.strictObject({
    job: Name,
    round: z.number().int().positive(),
    sha256: Sha256,
    previous: Sha256,
    /** under secure aggregation: the masked inputs' SHA-256, numSamples 0 (each site's count is hidden in the sum) */
    contributors: z.array(z.strictObject({ participant: Name, numSamples: z.number().int().nonnegative(), sha256: Sha256 })),
    /** a secure-aggregation round: the total weight the unmasked sum carried */
    secure: z.strictObject({ weight: z.number().int().positive() }).optional(),
    /** central differential privacy: SHA-256 of the seed the noise came from, kept with the round's retained updates */
    centralNoise: z.strictObject({ seedSha256: Sha256 }).optional(),
    /** the job's strategy, its parameters in full */
    strategy: StrategySpecSchema.optional(),
    /** SHA-256 of the strategy's state after this round (encodeState), stored beside the model */
    stateSha256: Sha256.optional(),
    /** participants revoked before the state this round started from was committed, in the log's order: the round dropped what that state kept of them (SCAFFOLD's c_i) */
    revoked: z.array(Name).optional(),
    signature: z.string(),
  }),
} as const satisfies Record<AuditKind, z.ZodType>;

export type AuditData<K extends AuditKind> = z.infer<(typeof AUDIT_DATA)[K]>;

type Named = (data: Record<string, unknown>) => unknown[];
const none: Named = () => [];
const field =
  (key: string): Named =>
  (data) => [data[key]];
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const keysOf = (value: unknown): string[] => (value !== null && typeof value === 'object' ? Object.keys(value) : []);
const participantsIn = (value: unknown): unknown[] => list(value).map((item) => (item as { participant?: unknown } | null)?.participant);
const contributorsOf = (value: unknown): unknown[] => participantsIn((value as { contributors?: unknown } | null)?.contributors);

/** Where each kind's data names participants: not users, tokens or invitations, which have names too. */
const PARTICIPANTS_NAMED: Record<AuditKind, Named> = {
  'coordinator.key': none,
  'user.added': none,
  'user.removed': none,
  'token.created': none,
  'token.revoked': none,
  // the participant the invitation is for, when it names one
  'invitation.created': field('name'),
  'invitation.cancelled': none,
  'participant.enrolled': field('name'),
  'participant.registered': field('name'),
  'participant.approved': field('name'),
  'participant.rejected': field('name'),
  'participant.revoked': field('name'),
  'job.created': none,
  'job.control': none,
  'job.resumed': none,
  'model.initial': none,
  'update.accepted': field('participant'),
  'update.excluded': field('participant'),
  'statistics.excluded': field('participant'),
  'secagg.input': field('participant'),
  'secagg.unmasked': (d) => [...list(d.participants), ...list(d.sharers), ...participantsIn(d.adverts), ...keysOf(d.seeds), ...keysOf(d.maskKeys)],
  'vocabulary.secure': (d) => [...contributorsOf(d.presence), ...contributorsOf(d.values)],
  'statistics.secure': (d) => contributorsOf(d),
  'updates.pruned': none,
  'model.committed': (d) => [...contributorsOf(d), ...list(d.revoked)],
};

/**
 * The participants a record is about, each once: the one that acted (actor
 * `participant:NAME`) and those its data names as participants (an update's
 * sender, a decision's subject, a commit's contributors and the sites it
 * dropped, a secure round's parties). Read from a record as stored, whatever
 * release wrote it: a field it lacks names no one, and a kind this code does
 * not know names only its actor.
 */
export function auditParticipants(record: { kind: string; actor: string; data: Record<string, unknown> }): string[] {
  const named = Object.hasOwn(PARTICIPANTS_NAMED, record.kind) ? PARTICIPANTS_NAMED[record.kind as AuditKind](record.data) : [];
  const actor = record.actor.startsWith('participant:') ? [record.actor.slice('participant:'.length)] : [];
  return [...new Set([...actor, ...named].filter((name): name is string => typeof name === 'string' && name !== ''))];
}

export const AuditRecordSchema = z.strictObject({
  /** the format version: 2 for RFC 8785 and `FL2` signatures; absent for version 1 */
  version: z.literal(2).optional(),
  seq: z.number().int().positive(),
  at: z.number().int().nonnegative(),
  kind: z.enum(AUDIT_KINDS),
  /** who did it: `user:NAME`, `token:ID`, `participant:NAME`, `invitation:ID` or `coordinator` */
  actor: z.string().min(1).max(300),
  data: z.record(z.string(), z.unknown()),
  prev: Sha256,
  hash: Sha256,
  /** the coordinator's signature of { seq, hash }, domain 'audit' */
  signature: z.string(),
});
export type AuditRecord = z.infer<typeof AuditRecordSchema>;

/**
 * A record as a verifier reads it: its kind may be one a newer coordinator
 * writes, whose chain and signature are checked like any other's.
 */
export const StoredAuditRecordSchema = AuditRecordSchema.extend({ kind: z.string().min(1).max(200) });
export type StoredAuditRecord = z.infer<typeof StoredAuditRecordSchema>;

export type UnsignedAuditRecord = Omit<AuditRecord, 'hash' | 'signature'>;

/** The version a record (or an anchor of one) was written in: 1 when it names none. */
export const recordVersion = (record: { version?: number }): ProtocolVersion => (record.version === 2 ? 2 : 1);

/**
 * The hash of a record: SHA-256 of the canonical JSON of everything but its hash
 * and signature (from version 2 on, the version included, so it cannot be stripped).
 */
export function auditHash(record: Omit<StoredAuditRecord, 'hash' | 'signature'>): string {
  const { version, seq, at, kind, actor, data, prev } = record;
  const hashed = version === undefined ? { seq, at, kind, actor, data, prev } : { version, seq, at, kind, actor, data, prev };
  return createHash('sha256').update(canonicalJsonOf(recordVersion(record), hashed), 'utf8').digest('hex');
}

/** Completes a record in the current version: its hash, and the coordinator's signature of it. */
export function sealAuditRecord(record: Omit<UnsignedAuditRecord, 'version'>, coordinatorSecretKey: Uint8Array): AuditRecord {
  const versioned: UnsignedAuditRecord = { version: PROTOCOL_VERSION, ...record };
  const hash = auditHash(versioned);
  return { ...versioned, hash, signature: signHeader('audit', { seq: record.seq, hash }, coordinatorSecretKey) };
}

export function verifyAuditSignature(record: Pick<StoredAuditRecord, 'version' | 'seq' | 'hash' | 'signature'>, coordinatorKey: Uint8Array): boolean {
  return verifyHeader('audit', { seq: record.seq, hash: record.hash }, record.signature, coordinatorKey, defaultEngine, recordVersion(record));
}

/** The bytes a record is stored as. */
export const auditText = (record: AuditRecord): string => canonicalJsonOf(recordVersion(record), record);

/** What the coordinator signs for each global model it commits (domain 'model'). */
export function modelAttestation(data: Omit<AuditData<'model.committed'>, 'signature'>) {
  return { type: 'model' as const, ...data };
}

/** What the coordinator signs for a job's initial model (domain 'model'). */
export function initialModelAttestation(data: Omit<AuditData<'model.initial'>, 'signature'>) {
  return { type: 'model' as const, ...data };
}
