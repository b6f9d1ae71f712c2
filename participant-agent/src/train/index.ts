/** Local training for the participant agent: backend choice, SGD training, evaluation. */
export { BACKEND_NAMES, selectBackend } from './backend';
export type { BackendName } from './backend';
export { evaluateLocal, trainLocal } from './trainer';
export type { Evaluation, TrainOptions, TrainResult } from './trainer';
