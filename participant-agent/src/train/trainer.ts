/**
 * Local training of the convex models (logistic, softmax, linear) on a site's own
 * data, and evaluation of a parameter vector against it.
 *
 * Training is mini-batch SGD on one of two engines with the same contract
 * (options.ts): TF.js ops on the selected backend (tfjs-sgd.ts), the default, or
 * the training kernel, WebAssembly SIMD (sgd.ts), chosen with useTrainingEngine:
 * on TF.js's wasm and cpu backends the per-op dispatch (10-70 µs) makes a step
 * several times slower than the kernel's whole batch.
 */
import {
  ModelShape,
  binaryAccuracy,
  binaryLogLoss,
  meanSquaredError,
  multiclassAccuracy,
  multiclassLogLoss,
  parameterCount,
} from '@fl/shared';
import { selectBackend } from './backend';
import { kernelFor, writeWeights } from './kernel';
import { validate, type TrainOptions, type TrainResult } from './options';
import { activate } from './outputs';
import { trainWithKernel } from './sgd';
import { trainWithTfjs } from './tfjs-sgd';

export type { TrainOptions, TrainResult } from './options';

export interface Evaluation {
  /** The same loss as TrainResult.loss, without the L2 term. */
  loss: number;
  /** logistic and softmax */
  accuracy?: number;
  /** linear */
  mse?: number;
}

/**
 * Trains from the given global parameters and returns new ones. Initialises the
 * process's TF.js backend on first use, which decides the engine; call
 * selectBackend() beforehand to choose it.
 */
export async function trainLocal(options: TrainOptions): Promise<TrainResult> {
  validate(options);
  const engine = await trainingEngine();
  if (options.n === 0) return { params: options.params.slice(), loss: 0, samples: 0, steps: 0 };
  return engine.startsWith('tfjs-') ? trainWithTfjs(options) : trainWithKernel(options, kernelFor('training'));
}

export const TRAINING_ENGINES = ['tfjs', 'kernel'] as const;
export type TrainingEngineName = (typeof TRAINING_ENGINES)[number];
let chosenEngine: TrainingEngineName = 'tfjs';

/**
 * Chooses what trainLocal computes with, for the whole process: TF.js ops on the
 * selected backend (the default), or the training kernel, ~4x faster than TF.js
 * on its wasm backend for these small models (see sgd.ts).
 */
export function useTrainingEngine(name: TrainingEngineName): void {
  chosenEngine = name;
}

/** What trainLocal computes with in this process: 'tfjs-<backend>', or the kernel's 'wasm-simd' or 'js'. */
export async function trainingEngine(): Promise<string> {
  const backend = await selectBackend();
  return chosenEngine === 'tfjs' ? `tfjs-${backend}` : kernelFor('training').name;
}

/**
 * The predictions of a parameter vector for n rows, as shared's predict() makes
 * them (probabilities, class probabilities n x k, or values), with the kernel's
 * products: an agent evaluates every round, and this is ~10x faster on 2,000 x 100.
 */
function predict(shape: ModelShape, params: Float32Array, x: Float32Array, n: number): Float32Array {
  const { inputDim: d, outputDim: k } = shape;
  if (params.length !== parameterCount(shape)) throw new Error('parameters do not match the model shape');
  if (x.length !== n * d) throw new Error('features do not match the model shape');
  if (n === 0) return new Float32Array(0);
  const kernel = kernelFor('evaluation');
  const { order, w, z } = kernel.load(x, n, d, k, n);
  for (let i = 0; i < n; i++) order[i] = i;
  writeWeights(w, params, d, k);
  kernel.forward(0, n);
  // A copy: the kernel's memory is reused by the next evaluation.
  return activate(shape, z.slice(0, n * k), params.subarray(d * k), n);
}

/**
 * Loss and accuracy (or MSE) of a parameter vector on local data. The evaluation
 * kernel keeps x for the next call, so x must not change in place afterwards (see Kernel.load).
 */
export function evaluateLocal(shape: ModelShape, params: Float32Array, x: Float32Array, y: Float32Array, n: number): Evaluation {
  if (y.length !== n) throw new Error('targets do not match n');
  const p = predict(shape, params, x, n);
  switch (shape.kind) {
    case 'logistic':
      return { loss: binaryLogLoss(p, y), accuracy: binaryAccuracy(p, y) };
    case 'softmax':
      return { loss: multiclassLogLoss(p, y, shape.outputDim), accuracy: multiclassAccuracy(p, y, shape.outputDim) };
    case 'linear': {
      const mse = meanSquaredError(p, y);
      return { loss: mse / 2, mse };
    }
  }
}
