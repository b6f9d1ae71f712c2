/**
 * The coordinator's records and views as the dashboard receives them: the very
 * declarations the coordinator compiles against, so the two cannot drift apart.
 */
export type { JobRecord, JobStatus, RoundRecord } from '../../src/storage/store';
export type {
  AdminHandshakeAuth,
  AdminLiveEvents,
  AuditPage,
  AuditRecordView,
  AuditVerification,
  InvitationView,
  JobLiveEvent,
  ParticipantPresence,
  ParticipantView,
  Role,
  SessionView,
  TokenView,
  UserView,
} from '../../src/admin/views';
export { ADMIN_NAMESPACE } from '../../src/admin/views';
export type { ParticipantStatus } from '@fl/shared';

import type { InvitationView } from '../../src/admin/views';
export type InvitationStatus = InvitationView['status'];
