/** Local training for the participant agent: SGD training and evaluation. */
export { evaluateLocal, trainLocal } from './trainer';
export type { Evaluation, TrainOptions, TrainResult } from './trainer';
