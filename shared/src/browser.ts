/**
 * The part of @fl/shared a web page can bundle: the job schema, the error code
 * table and the model kinds. Nothing here imports node:* modules (the crypto and
 * codec modules do), so the dashboard validates jobs with the API's own schema.
 */
export * from './protocol/job';
export * from './protocol/errors';
export { MODEL_KINDS, type ModelKind, type ModelShape } from './model/model';
export type { ParticipantStatus } from './protocol/enrollment';
