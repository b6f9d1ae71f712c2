/** Local training for the participant agent: backend and engine choice, SGD training, evaluation. */
export { BACKEND_NAMES, selectBackend } from './backend';
export type { BackendName } from './backend';
export { evaluateLocal, TRAINING_ENGINES, trainingEngine, trainLocal, useTrainingEngine } from './trainer';
export type { TrainingEngineName } from './trainer';
export type { Evaluation, TrainOptions, TrainResult } from './trainer';
