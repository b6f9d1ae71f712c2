/**
 * The admin API's views and live events as the dashboard receives them: the
 * zod-described contract in @fl/shared that the coordinator answers with.
 */
export type {
  AdminHandshakeAuth,
  AdminLiveEvents,
  AuditPage,
  AuditRecordView,
  AuditVerification,
  InvitationStatus,
  InvitationView,
  JobLiveEvent,
  JobStatus,
  JobView,
  ParticipantPresence,
  ParticipantStatus,
  ParticipantView,
  Role,
  RoundView,
  SessionView,
  TokenView,
  UserView,
} from '@fl/shared';
export { ADMIN_NAMESPACE } from '@fl/shared';
/** The names the components use for a job and a round. */
export type { JobView as JobRecord, RoundView as RoundRecord } from '@fl/shared';
