/**
 * What the admin API and its live namespace send, as types the dashboard
 * imports too. Only type imports from the store: a web bundle can include it.
 */
import type { InvitationRecord, JobStatus, ParticipantRecord, RoundRecord } from '../storage/store';

/** The Socket.IO namespace of the live admin view. */
export const ADMIN_NAMESPACE = '/admin';

/** admin: everything; viewer: reads only. A user login would hand out the same roles. */
export const ROLES = ['admin', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/** `GET /api/session`: who the presented credentials are (user null for a configured token). */
export interface SessionView {
  role: Role;
  user: string | null;
}

/** `GET /api/users` */
export interface UserView {
  name: string;
  role: Role;
  createdAt: number;
}

/** `GET /api/tokens`: API tokens, without the secret (shown once, when made). */
export interface TokenView {
  id: string;
  user: string;
  label: string;
  createdAt: number;
}

/** `GET /api/invitations`: without the token's digest. */
export type InvitationView = Omit<InvitationRecord, 'tokenDigest'> & { status: 'open' | 'used' | 'expired' | 'cancelled' };

/** An audit record as the API sends it (the schema, with the kinds' data, is @fl/shared's AuditRecordSchema). */
export interface AuditRecordView {
  seq: number;
  at: number;
  kind: string;
  actor: string;
  data: Record<string, unknown>;
  prev: string;
  hash: string;
  signature: string;
}

/** `GET /api/audit`: a page of the audit log, and its head. */
export interface AuditPage {
  records: AuditRecordView[];
  head: { seq: number; hash: string } | null;
}

/** `GET /api/audit/verify`: the outcome of checking the log and the stored updates and models. */
export interface AuditVerification {
  ok: boolean;
  lines: string[];
  failure: { where: string; reason: string } | null;
}

/** `GET /api/participants`: a participant as the admin sees it. */
export interface ParticipantView extends ParticipantRecord {
  fingerprint: string;
  online: boolean;
  /** last connect or disconnect since the coordinator started */
  lastSeen: number | null;
  /** committed rounds, over all jobs, that folded in this participant's update */
  roundsContributed: number;
}

/** A participant's connection came or went. */
export interface ParticipantPresence {
  name: string;
  online: boolean;
  lastSeen: number;
}

/** A job changed status, or one of its rounds was committed or completed (its evaluation added). */
export type JobLiveEvent =
  | { type: 'status'; job: string; status: JobStatus; error: string | null }
  | { type: 'round' | 'evaluation'; job: string; round: RoundRecord };

/** Events of the admin namespace, server to dashboard. The dashboard sends none. */
/** Records were added to the audit log: its new head and the kinds added (invitations, enrollments, decisions...). */
export interface AuditLiveEvent {
  head: number;
  kinds: string[];
}

export interface AdminLiveEvents {
  job: (event: JobLiveEvent) => void;
  participant: (event: ParticipantPresence) => void;
  audit: (event: AuditLiveEvent) => void;
}

/** The Socket.IO handshake `auth` of the admin namespace. */
export interface AdminHandshakeAuth {
  token: string;
}
