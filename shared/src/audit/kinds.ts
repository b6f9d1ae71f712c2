/**
 * The kinds of audit record: the auditable acts, whose data record.ts
 * describes. Apart from it, and free of node:* modules, so that the admin API's
 * schemas and the dashboard (its filter of the log) name the same kinds.
 */
export const AUDIT_KINDS = [
  'coordinator.key',
  'user.added',
  'user.removed',
  'token.created',
  'token.revoked',
  'invitation.created',
  'invitation.cancelled',
  'participant.enrolled',
  'participant.registered',
  'participant.approved',
  'participant.rejected',
  'participant.revoked',
  'job.created',
  'job.control',
  'job.resumed',
  'model.initial',
  'update.accepted',
  'update.excluded',
  'statistics.excluded',
  'secagg.input',
  'secagg.unmasked',
  'vocabulary.secure',
  'statistics.secure',
  'updates.pruned',
  'model.committed',
] as const;

export type AuditKind = (typeof AUDIT_KINDS)[number];
