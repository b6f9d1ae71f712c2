/**
 * What the admin REST API answers and what its live Socket.IO namespace pushes,
 * as zod schemas: the coordinator maps its stored records to these views and the
 * dashboard reads them, so a stored column is never part of the API by accident.
 * Browser-safe: zod and the protocol's plain schemas only.
 */
import { z } from 'zod';
import { PARTICIPANT_STATUSES } from '../protocol/enrollment';
import { ERROR_CODES, type ErrorCode } from '../protocol/errors';
import { JobSpecSchema, PreprocessingSchema } from '../protocol/job';
import { MODEL_KINDS } from '../model/model';

const time = z.number().int().describe('milliseconds since 1970-01-01 UTC');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

/** admin: everything; viewer: reads only. */
export const ROLES = ['admin', 'viewer'] as const;
export const RoleSchema = z.enum(ROLES).meta({ id: 'Role' });
export type Role = z.infer<typeof RoleSchema>;

/** Every REST error: `{ error: { code, message } }`, the code from the one table of error codes. */
export const ErrorResponseSchema = z
  .object({
    error: z.object({ code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]), message: z.string() }),
  })
  .meta({ id: 'ErrorResponse' });

/** `GET /api/health`: liveness, and the key agents compare out of band before pinning it. */
export const HealthViewSchema = z
  .object({ status: z.literal('ok'), coordinatorKey: z.string(), fingerprint: z.string() })
  .meta({ id: 'HealthView' });
export type HealthView = z.infer<typeof HealthViewSchema>;

/** `GET /api/health/live`: the process answers; nothing else is checked, so a slow database never restarts it. */
export const LivenessViewSchema = z.object({ status: z.literal('ok') }).meta({ id: 'LivenessView' });
export type LivenessView = z.infer<typeof LivenessViewSchema>;

/** `GET /api/health/ready`: whether to send traffic here: the store answered a query (200) or did not (503). */
export const ReadinessViewSchema = z
  .object({ status: z.enum(['ready', 'unready']), store: z.enum(['ok', 'failing']) })
  .meta({ id: 'ReadinessView' });
export type ReadinessView = z.infer<typeof ReadinessViewSchema>;

/** `GET /api/session`: who the presented credentials are (user null for a configured token). */
export const SessionViewSchema = z.object({ role: RoleSchema, user: z.string().nullable() }).meta({ id: 'SessionView' });
export type SessionView = z.infer<typeof SessionViewSchema>;

/** `POST /api/session`: the session token, shown this once. */
export const SignedInViewSchema = SessionViewSchema.extend({ token: z.string(), expiresAt: time }).meta({ id: 'SignedInView' });
export type SignedInView = z.infer<typeof SignedInViewSchema>;

/** `GET /api/users` */
export const UserViewSchema = z.object({ name: z.string(), role: RoleSchema, createdAt: time }).meta({ id: 'UserView' });
export type UserView = z.infer<typeof UserViewSchema>;

/** `GET /api/tokens`: API tokens, without the secret. */
export const TokenViewSchema = z.object({ id: z.string(), user: z.string(), label: z.string(), createdAt: time }).meta({ id: 'TokenView' });
export type TokenView = z.infer<typeof TokenViewSchema>;

/** `POST /api/tokens`: the token itself, shown this once and stored only as a hash. */
export const CreatedTokenViewSchema = TokenViewSchema.extend({ token: z.string() }).meta({ id: 'CreatedTokenView' });
export type CreatedTokenView = z.infer<typeof CreatedTokenViewSchema>;

export const INVITATION_STATUSES = ['open', 'used', 'expired', 'cancelled'] as const;
export const InvitationStatusSchema = z.enum(INVITATION_STATUSES);
export type InvitationStatus = z.infer<typeof InvitationStatusSchema>;

/** `GET /api/invitations`: without the token or its digest. */
export const InvitationViewSchema = z
  .object({
    id: z.string(),
    organisation: z.string(),
    country: z.string(),
    /** the participant name it is for, or null to let the site choose */
    name: z.string().nullable(),
    expiresAt: time,
    createdAt: time,
    createdBy: z.string(),
    cancelledAt: time.nullable(),
    usedAt: time.nullable(),
    /** the participant that enrolled with it */
    usedBy: z.string().nullable(),
    status: InvitationStatusSchema,
  })
  .meta({ id: 'InvitationView' });
export type InvitationView = z.infer<typeof InvitationViewSchema>;

/** `POST /api/invitations`: the one-time token, shown this once and stored only as a hash. */
export const CreatedInvitationViewSchema = InvitationViewSchema.extend({ token: z.string() }).meta({ id: 'CreatedInvitationView' });
export type CreatedInvitationView = z.infer<typeof CreatedInvitationViewSchema>;

/** `GET /api/participants`: a participant as the admin sees it. */
export const ParticipantViewSchema = z
  .object({
    name: z.string(),
    organisation: z.string(),
    /** ISO 3166 code or name, as the invitation said; '' when not given */
    country: z.string(),
    /** base64 Ed25519 public key */
    publicKey: z.string(),
    fingerprint: z.string(),
    status: z.enum(PARTICIPANT_STATUSES),
    /** the invitation it enrolled with; null when an admin registered it directly */
    invitation: z.string().nullable(),
    decidedAt: time.nullable(),
    decidedBy: z.string().nullable(),
    createdAt: time,
    online: z.boolean(),
    /** last connect or disconnect since the coordinator started */
    lastSeen: time.nullable(),
    /** committed rounds, over all jobs, that folded in this participant's update */
    roundsContributed: z.number().int(),
  })
  .meta({ id: 'ParticipantView' });
export type ParticipantView = z.infer<typeof ParticipantViewSchema>;

export const JOB_STATUSES = ['waiting', 'statistics', 'training', 'paused', 'completed', 'failed', 'stopped'] as const;
export const JobStatusSchema = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof JobStatusSchema>;

/** A participant left out, and why: `code` (from the error code table) when the coordinator refused what it sent. */
export const FailureSchema = z.object({ participant: z.string(), reason: z.string(), code: z.string().optional() });
export type Failure = z.infer<typeof FailureSchema>;

/** `GET /api/jobs`: a job, its spec with every default filled in. */
export const JobViewSchema = z
  .object({
    id: z.string(),
    spec: JobSpecSchema,
    status: JobStatusSchema,
    /** set once the statistics phase has combined everyone's statistics */
    preprocessing: PreprocessingSchema.nullable(),
    /** the last committed round; 0 before the first */
    round: z.number().int(),
    error: z.string().nullable(),
    /** differential privacy: ε spent after the committed rounds, for the job's δ, and its budget */
    privacy: z.object({ epsilon: z.number(), delta: z.number(), epsilonBudget: z.number().optional() }).optional(),
    /** sites left out of the rest of the job, by code: their statistics were implausible, or they reported their privacy budget spent */
    excluded: z.array(FailureSchema),
    createdAt: time,
    updatedAt: time,
  })
  .meta({ id: 'JobView' });
export type JobView = z.infer<typeof JobViewSchema>;

const metrics = z.record(z.string(), z.number());

/** `GET /api/jobs/{id}/rounds`: a committed round. */
export const RoundViewSchema = z
  .object({
    job: z.string(),
    round: z.number().int(),
    startedAt: time,
    closedAt: time,
    /** participants asked to train */
    selected: z.array(z.string()),
    /** participants whose update was folded in, with their sample counts */
    contributors: z.array(z.object({ participant: z.string(), numSamples: z.number() })),
    /** participants asked but not folded in; `code` says why in one word, e.g. IMPLAUSIBLE_WEIGHTS for an update left out, or a SITE_FAILURE_CODES code the site reported */
    failures: z.array(FailureSchema),
    /** means of the metrics the contributors reported, weighted by sample counts capped at their lower median: one site's claimed count cannot steer them */
    metrics,
    /** how many times the round was started before it closed */
    attempts: z.number().int(),
    /** differential privacy: ε spent up to and including this round */
    privacy: z.object({ epsilon: z.number(), delta: z.number() }).optional(),
    modelSha256: sha256,
    /** federated evaluation of this round's global model, when the job asked for one */
    evaluation: z
      .object({
        /** means of the metrics participants measured on their held-out rows, weighted by example counts capped at their lower median */
        metrics,
        numExamples: z.number().int(),
        participants: z.array(z.string()),
        /** the sites asked that did not evaluate, and why */
        failures: z.array(FailureSchema),
      })
      .nullable(),
  })
  .meta({ id: 'RoundView' });
export type RoundView = z.infer<typeof RoundViewSchema>;

/** `GET /api/jobs/{id}/model` as JSON: the global model and what is needed to use it. */
export const ModelViewSchema = z
  .object({
    job: z.string(),
    round: z.number().int(),
    sha256,
    shape: z.object({ kind: z.enum(MODEL_KINDS), inputDim: z.number().int(), outputDim: z.number().int() }),
    /** absent for kmeans, which has no target */
    target: z.string().optional(),
    preprocessing: PreprocessingSchema,
    weights: z.array(z.number()),
  })
  .meta({ id: 'ModelView' });
export type ModelView = z.infer<typeof ModelViewSchema>;

/** An audit record as stored: the kinds' data is described by @fl/shared's AuditRecordSchema. */
export const AuditRecordViewSchema = z
  .object({
    /** the format version: 2, absent in records written by protocol version 1 */
    version: z.literal(2).optional(),
    seq: z.number().int(),
    at: time,
    kind: z.string(),
    actor: z.string(),
    data: z.record(z.string(), z.unknown()),
    prev: sha256,
    hash: sha256,
    signature: z.string(),
  })
  .meta({ id: 'AuditRecordView' });
export type AuditRecordView = z.infer<typeof AuditRecordViewSchema>;

/** `GET /api/audit`: a page of the audit log, oldest first, and the head of the whole log. */
export const AuditPageSchema = z
  .object({
    records: z.array(AuditRecordViewSchema),
    head: z.object({ seq: z.number().int(), hash: sha256 }).nullable(),
    more: z.boolean().describe('whether other records match beyond this page: after it, or with `before`, before it'),
  })
  .meta({ id: 'AuditPage' });
export type AuditPage = z.infer<typeof AuditPageSchema>;

/** `GET /api/audit/verify`: the outcome of checking the log and the stored updates and models. */
export const AuditVerificationSchema = z
  .object({ ok: z.boolean(), lines: z.array(z.string()), failure: z.object({ where: z.string(), reason: z.string() }).nullable() })
  .meta({ id: 'AuditVerification' });
export type AuditVerification = z.infer<typeof AuditVerificationSchema>;
