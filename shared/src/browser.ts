/**
 * The part of @fl/shared a web page can bundle: the job schema, the error code
 * table, the model kinds, the audit record kinds and the admin API's contract.
 * Nothing here imports node:* modules (the crypto and codec modules do), so the
 * dashboard validates with the API's own schemas.
 */
export * from './protocol/job';
export * from './strategy/spec';
export { SecureAggregationSpecSchema, type SecureAggregationSpec } from './secagg/spec';
export { DpSpecSchema, type DpSpec } from './privacy/spec';
export * from './protocol/errors';
export { MODEL_KINDS, type ModelKind, type ModelShape } from './model/model';
export { PARTICIPANT_STATUSES, type ParticipantStatus } from './protocol/enrollment';
export { AUDIT_KINDS, type AuditKind } from './audit/kinds';
export * from './admin';
