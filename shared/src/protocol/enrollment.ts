/**
 * Enrollment over REST: `POST /api/enrollments` with an invitation's one-time
 * token. The agent signs the request with the key it registers (proof that it
 * holds it); the coordinator answers with a header signed by its own key, which
 * the agent pins after showing its fingerprint for out-of-band comparison.
 */
import { z } from 'zod';

/** Canonical base64 of 32 bytes: 43 characters whose last carries two zero bits, then one '='. */
export const PublicKeySchema = z.string().regex(/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/, 'a base64 Ed25519 public key (32 bytes)');
const signature = z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'a base64 Ed25519 signature');

/** Participant names: what the handshake, updates and audit records call a site. */
export const ParticipantNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'letters, digits, dot, dash and underscore, up to 100');

export const EnrollmentHeaderSchema = z.strictObject({
  type: z.literal('enrollment'),
  /** the invitation's one-time token */
  token: z.string().min(16).max(200),
  /** the name the site asks for; the invitation may fix it */
  name: ParticipantNameSchema,
  publicKey: PublicKeySchema,
  timestamp: z.number().int(),
  nonce: z.string().min(16).max(128),
});
export type EnrollmentHeader = z.infer<typeof EnrollmentHeaderSchema>;
export const EnrollmentRequestSchema = z.strictObject({ header: EnrollmentHeaderSchema, signature });
export type EnrollmentRequest = z.infer<typeof EnrollmentRequestSchema>;

export const PARTICIPANT_STATUSES = ['pending', 'approved', 'rejected', 'revoked'] as const;
export type ParticipantStatus = (typeof PARTICIPANT_STATUSES)[number];

export const EnrolledHeaderSchema = z.strictObject({
  type: z.literal('enrolled'),
  participant: ParticipantNameSchema,
  organisation: z.string(),
  country: z.string(),
  publicKey: PublicKeySchema,
  status: z.enum(PARTICIPANT_STATUSES),
  coordinatorKey: PublicKeySchema,
  /** the request's nonce: this answer is for that request */
  nonce: z.string(),
  issuedAt: z.number().int(),
});
export type EnrolledHeader = z.infer<typeof EnrolledHeaderSchema>;
export const EnrolledResponseSchema = z.strictObject({ header: EnrolledHeaderSchema, signature });
export type EnrolledResponse = z.infer<typeof EnrolledResponseSchema>;
