/**
 * The admin live view: the Socket.IO namespace `/admin`, server to dashboard
 * only. Every change goes through the REST API, where roles are enforced.
 */
import { z } from 'zod';
import { JobStatusSchema, RoundViewSchema } from './views';

/** The Socket.IO namespace of the live admin view. */
export const ADMIN_NAMESPACE = '/admin';

/** The Socket.IO handshake `auth` of the admin namespace: a session or API token. */
export const AdminHandshakeAuthSchema = z.object({ token: z.string() });
export type AdminHandshakeAuth = z.infer<typeof AdminHandshakeAuthSchema>;

/** `participant`: a participant's connection came or went. */
export const ParticipantPresenceSchema = z.object({ name: z.string(), online: z.boolean(), lastSeen: z.number().int() });
export type ParticipantPresence = z.infer<typeof ParticipantPresenceSchema>;

/** `job`: a job changed status, or one of its rounds was committed or completed (its evaluation added). */
export const JobLiveEventSchema = z.union([
  z.object({ type: z.literal('status'), job: z.string(), status: JobStatusSchema, error: z.string().nullable() }),
  z.object({ type: z.enum(['round', 'evaluation']), job: z.string(), round: RoundViewSchema }),
]);
export type JobLiveEvent = z.infer<typeof JobLiveEventSchema>;

/** `audit`: records were added to the audit log: its new head and the kinds added (invitations, enrollments, decisions...). */
export const AuditLiveEventSchema = z.object({ head: z.number().int(), kinds: z.array(z.string()) });
export type AuditLiveEvent = z.infer<typeof AuditLiveEventSchema>;

/** Events of the admin namespace, server to dashboard. The dashboard sends none. */
export interface AdminLiveEvents {
  job: (event: JobLiveEvent) => void;
  participant: (event: ParticipantPresence) => void;
  audit: (event: AuditLiveEvent) => void;
}
