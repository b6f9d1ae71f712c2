/**
 * The coordinator's records and views as the dashboard receives them: the very
 * declarations the coordinator compiles against, so the two cannot drift apart.
 */
export type { JobRecord, JobStatus, RoundRecord } from '../../src/storage/store';
export type {
  AdminHandshakeAuth,
  AdminLiveEvents,
  JobLiveEvent,
  ParticipantPresence,
  ParticipantView,
  Role,
  SessionView,
} from '../../src/admin/views';
export { ADMIN_NAMESPACE } from '../../src/admin/views';
