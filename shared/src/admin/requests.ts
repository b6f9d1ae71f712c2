/**
 * What the admin REST API accepts: request bodies, queries and path parameters,
 * as the zod schemas the coordinator parses them with. A job's body is the
 * protocol's JobSpecSchema; an enrollment's is EnrollmentRequestSchema.
 */
import { z } from 'zod';
import { ParticipantNameSchema, PublicKeySchema } from '../protocol/enrollment';
import { AUDIT_KINDS } from '../audit/kinds';
import { cleanText } from '../protocol/text';
import { RoleSchema } from './views';

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_AUDIT_PAGE = 1000;

/** User names: what sign-in takes and audit records call `user:NAME`. */
export const UserNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$/, 'letters, digits, dot, dash, underscore and @, up to 100');


/** `POST /api/session` */
export const LoginRequestSchema = z.strictObject({ name: UserNameSchema, password: z.string().min(1).max(1024) }).meta({ id: 'LoginRequest' });
export type LoginRequest = z.infer<typeof LoginRequestSchema>;

/** `POST /api/users` */
export const NewUserRequestSchema = z
  .strictObject({
    name: UserNameSchema,
    password: z.string().min(MIN_PASSWORD_LENGTH, `at least ${MIN_PASSWORD_LENGTH} characters`).max(1024),
    role: RoleSchema,
  })
  .meta({ id: 'NewUserRequest' });
export type NewUserRequest = z.infer<typeof NewUserRequestSchema>;

/** `POST /api/tokens` */
export const NewTokenRequestSchema = z.strictObject({ label: cleanText(z.string().min(1).max(200)) }).meta({ id: 'NewTokenRequest' });
export type NewTokenRequest = z.infer<typeof NewTokenRequestSchema>;

const country = cleanText(z.string().max(100)).default('');
const organisation = cleanText(z.string().min(1).max(200));

/** `POST /api/participants`: an admin registers a key exchanged out of band; approved at once. */
export const RegisterParticipantRequestSchema = z
  .strictObject({ name: ParticipantNameSchema, organisation, country, publicKey: PublicKeySchema })
  .meta({ id: 'RegisterParticipantRequest' });
export type RegisterParticipantRequest = z.infer<typeof RegisterParticipantRequestSchema>;

/** `POST /api/invitations` */
export const NewInvitationRequestSchema = z
  .strictObject({
    organisation,
    country,
    /** fixes the participant name; else the site chooses it when it enrolls */
    name: ParticipantNameSchema.optional(),
    expiresInHours: z.number().positive().max(24 * 365).default(72),
  })
  .meta({ id: 'NewInvitationRequest' });
export type NewInvitationRequest = z.infer<typeof NewInvitationRequestSchema>;

/** `POST /api/participants/{name}/approve|reject|revoke`; the body may be left out. */
export const DecisionRequestSchema = z.strictObject({ reason: cleanText(z.string().max(1000)).default('') }).meta({ id: 'DecisionRequest' });
export type DecisionRequest = z.infer<typeof DecisionRequestSchema>;

/**
 * `GET /api/audit`: a page of the records with seq between `after` and `before`
 * (both left out) that match every filter given, listed oldest first; the first
 * `limit` of them, or with `before` the last `limit`, to page back from the
 * newest (`before` = head + 1).
 */
export const AuditPageQuerySchema = z.object({
  after: z.coerce.number().int().min(0).default(0).describe('the last record already read; 0 for the start'),
  before: z.coerce.number().int().min(1).optional().describe('the first record already read, paging back: the page ends before it'),
  limit: z.coerce.number().int().min(1).max(MAX_AUDIT_PAGE).default(100),
  kind: z
    .preprocess((value) => (typeof value === 'string' ? [value] : value), z.array(z.enum(AUDIT_KINDS)).min(1))
    .optional()
    .describe('only records of these kinds: repeat it for several (kind=update.accepted&kind=update.excluded)'),
  job: cleanText(z.string().min(1).max(200)).optional().describe("only the job's records: those whose data names it as their job"),
  participant: ParticipantNameSchema.optional().describe(
    'only the records about this participant: it acted (actor participant:NAME), or the data names it as a participant (an update, a decision, a commit it contributed to or was dropped from, a secure round it took part in)',
  ),
});
export type AuditPageQuery = z.infer<typeof AuditPageQuerySchema>;

/** `GET /api/jobs/{id}/model?round=N`: a round's model; the latest when left out. */
/**
 * `format`: json (the default, or raw bytes by the Accept header); onnx, the model
 * with its preprocessing in one ONNX graph (model.onnx); tfjs, a TF.js LayersModel's
 * model.json, whose weights are at `format=tfjs-weights` of the same round.
 */
export const MODEL_FORMATS = ['json', 'onnx', 'tfjs', 'tfjs-weights'] as const;
export const ModelQuerySchema = z.object({ round: z.coerce.number().int().min(0).optional(), format: z.enum(MODEL_FORMATS).optional() });
export type ModelQuery = z.infer<typeof ModelQuerySchema>;

export const JobParamsSchema = z.object({ id: z.string().describe('the job id') });
export const ParticipantParamsSchema = z.object({ name: z.string().describe('the participant name') });
export const InvitationParamsSchema = z.object({ id: z.string().describe('the invitation id') });
export const UserParamsSchema = z.object({ name: z.string().describe('the user name') });
export const TokenParamsSchema = z.object({ id: z.string().describe('the API token id') });
