/**
 * Local training of the convex models (logistic, softmax, linear) on a site's own
 * data, and plain-JS evaluation of a parameter vector against it.
 *
 * Training is mini-batch SGD with closed-form gradients in TF.js ops rather than
 * a tf.LayersModel and fit(): for models this small fit()'s per-batch bookkeeping
 * dominates and it measured about 20x slower. The gradient of every kind has the
 * same form, dW = Xᵀg / B + l2·W and db = mean(g), with g = p − y where p is the
 * sigmoid, softmax or identity of XW + b (y one-hot for softmax).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  ModelShape,
  binaryAccuracy,
  binaryLogLoss,
  meanSquaredError,
  multiclassAccuracy,
  multiclassLogLoss,
  parameterCount,
  predict,
  seededRandom,
} from '@fl/shared';
import { selectBackend } from './backend';

export interface TrainOptions {
  shape: ModelShape;
  /** The global model in the shared layout; it is read, never mutated. */
  params: Float32Array;
  /** n x inputDim features, row-major. */
  x: Float32Array;
  /** logistic: 0/1 labels; softmax: the class index; linear: the target. */
  y: Float32Array;
  n: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** L2 penalty (l2/2)·||W||² on the weights; the bias is not penalised. */
  l2: number;
  /** Seeds the per-epoch shuffle, so the same data and seed give the same model. */
  seed: number;
}

export interface TrainResult {
  /** The locally trained model, in the same layout as the input. */
  params: Float32Array;
  /**
   * Mean training loss over the last epoch's samples, each batch measured just
   * before its own update (as Keras reports it): binary cross-entropy, softmax
   * cross-entropy, or half the mean squared error. The L2 term is left out so
   * the figure compares with evaluateLocal and across different l2 settings.
   */
  loss: number;
  /** n; with no samples nothing is trained and loss is 0. */
  samples: number;
  /** Gradient steps taken: epochs x ceil(n / batchSize). */
  steps: number;
}

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
 * process's TF.js backend on first use; call selectBackend() beforehand to choose it.
 */
export async function trainLocal(options: TrainOptions): Promise<TrainResult> {
  validate(options);
  await selectBackend();

  const { shape, n, epochs, batchSize, learningRate, l2 } = options;
  if (n === 0) return { params: options.params.slice(), loss: 0, samples: 0, steps: 0 };

  const d = shape.inputDim;
  const k = shape.outputDim;
  // The bias is folded into the weights as an extra input that is always 1: the
  // shared layout (W row-major, then b) is then exactly a (d+1) x k matrix, and one
  // matMul yields both Xᵀg and sum(g), which saves kernel launches per step.
  const cols = d + 1;

  // The epoch's shuffled copy of the data: rows of d features plus the constant 1,
  // which stays put while the features are rewritten each epoch.
  const rows = new Float32Array(n * cols);
  for (let i = 0; i < n; i++) rows[i * cols + d] = 1;
  const labels = new Float32Array(n);
  const destination = new Uint32Array(n);
  for (let i = 0; i < n; i++) destination[i] = i;
  // Softmax batches are one-hot encoded on the host into this reusable buffer.
  const oneHot = shape.kind === 'softmax' ? new Float32Array(batchSize * k) : undefined;
  const random = seededRandom(options.seed);

  // A copy, because the cpu backend keeps a reference to the array it is given.
  const theta = tf.tidy(() => tf.variable(tf.tensor2d(options.params.slice(), [cols, k]), false));
  const lossSum = tf.tidy(() => tf.variable(tf.scalar(0), false));
  // W·(1 − lr·l2) leaves the bias row alone: the penalty is on the weights only.
  const decay = l2 !== 0 ? fillDecay(d, learningRate * l2) : undefined;
  const fullStep = tf.scalar(learningRate / batchSize);
  let steps = 0;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      shuffle(destination, random);
      scatterRows(options, destination, rows, labels, cols);
      const measure = epoch === epochs - 1;
      for (let start = 0; start < n; start += batchSize) {
        const size = Math.min(batchSize, n - start);
        tf.tidy(() => {
          // Batches are uploaded from the shuffled host copy: tf.slice/tf.gather
          // per batch measured some 500x slower on wasm.
          const xb = tf.tensor2d(rows.subarray(start * cols, (start + size) * cols), [size, cols]);
          const yb = tf.tensor2d(oneHot ? encodeOneHot(labels, start, size, k, oneHot) : labels.subarray(start, start + size), [size, k]);
          const p = forward(shape, xb, theta, measure ? lossSum : undefined, yb);
          const gradient = tf.matMul(xb, tf.sub(p, yb), true, false);
          const scale = size === batchSize ? fullStep : tf.scalar(learningRate / size);
          const kept = decay ? tf.mul(theta, decay) : theta;
          theta.assign(tf.sub(kept, tf.mul(gradient, scale)));
        });
        steps++;
      }
      // Lets socket heartbeats and timers run between epochs on large data sets.
      if (epoch < epochs - 1) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    // The only readbacks: one for the parameters, one for the loss.
    const params = Float32Array.from(theta.dataSync());
    const loss = lossSum.dataSync()[0] / n;
    return { params, loss, samples: n, steps };
  } finally {
    theta.dispose();
    lossSum.dispose();
    decay?.dispose();
    fullStep.dispose();
  }
}

/**
 * Predictions p for a batch; when `lossSum` is given, also adds the batch's summed
 * loss to it. Measuring goes through the logits, which costs extra ops, so it is
 * only done in the epoch whose loss is reported.
 */
function forward(
  shape: ModelShape,
  xb: tf.Tensor2D,
  theta: tf.Variable<tf.Rank.R2>,
  lossSum: tf.Variable | undefined,
  yb: tf.Tensor2D,
): tf.Tensor {
  if (!lossSum) {
    switch (shape.kind) {
      case 'logistic':
        return tf.fused.matMul({ a: xb, b: theta, activation: 'sigmoid' });
      case 'softmax':
        return tf.softmax(tf.matMul(xb, theta));
      case 'linear':
        return tf.matMul(xb, theta);
    }
  }
  const z = tf.matMul(xb, theta);
  let p: tf.Tensor;
  let batchLoss: tf.Tensor;
  switch (shape.kind) {
    case 'logistic':
      // −[y·log σ(z) + (1−y)·log(1−σ(z))] = softplus(z) − y·z, stable for large |z|.
      p = tf.sigmoid(z);
      batchLoss = tf.sum(tf.sub(tf.softplus(z), tf.mul(yb, z)));
      break;
    case 'softmax': {
      const logP = tf.logSoftmax(z);
      p = tf.exp(logP);
      batchLoss = tf.neg(tf.sum(tf.mul(yb, logP)));
      break;
    }
    case 'linear':
      p = z;
      batchLoss = tf.mul(tf.sum(tf.squaredDifference(z, yb)), 0.5);
      break;
  }
  lossSum.assign(tf.add(lossSum, batchLoss));
  return p;
}

/** A (d+1) x 1 column: 1 − lr·l2 for each weight row, 1 for the bias row. */
function fillDecay(d: number, shrink: number): tf.Tensor2D {
  const values = new Float32Array(d + 1).fill(1 - shrink);
  values[d] = 1;
  return tf.tensor2d(values, [d + 1, 1]);
}

function encodeOneHot(labels: Float32Array, start: number, size: number, k: number, out: Float32Array): Float32Array {
  out.fill(0, 0, size * k);
  for (let i = 0; i < size; i++) out[i * k + labels[start + i]] = 1;
  return out.subarray(0, size * k);
}

/**
 * Writes row r of the data to position destination[r] of the shuffled copy. A
 * random permutation read as destinations is as uniform as one read as sources;
 * scattering reads the caller's array sequentially and leaves the random accesses
 * to writes, which the CPU buffers better: on 100k x 100 it measured ~29 ms an
 * epoch against ~35 ms for gathering, the random row accesses being nearly all of it.
 */
function scatterRows(options: TrainOptions, destination: Uint32Array, rows: Float32Array, labels: Float32Array, cols: number): void {
  const { x, y, n } = options;
  const d = cols - 1;
  for (let r = 0; r < n; r++) {
    const to = destination[r];
    rows.set(x.subarray(r * d, r * d + d), to * cols);
    labels[to] = y[r];
  }
}

/** Fisher–Yates, driven by the seeded generator. */
function shuffle(order: Uint32Array, random: () => number): void {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
}

function validate(o: TrainOptions): void {
  const { shape, n } = o;
  const isCount = (v: number) => Number.isInteger(v) && v >= 0;
  if (!isCount(shape.inputDim) || !isCount(shape.outputDim) || shape.outputDim < 1) throw new Error('invalid model shape');
  if (shape.kind !== 'softmax' && shape.outputDim !== 1) throw new Error(`a ${shape.kind} model has outputDim 1`);
  if (o.params.length !== parameterCount(shape)) throw new Error('parameters do not match the model shape');
  if (!isCount(n)) throw new Error('n must be a non-negative integer');
  if (o.x.length !== n * shape.inputDim) throw new Error('features do not match n x inputDim');
  if (o.y.length !== n) throw new Error('targets do not match n');
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw new Error('epochs must be a positive integer');
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error('batchSize must be a positive integer');
  if (!(o.learningRate > 0) || !Number.isFinite(o.learningRate)) throw new Error('learningRate must be positive');
  if (!(o.l2 >= 0) || !Number.isFinite(o.l2)) throw new Error('l2 must be non-negative');
  if (!Number.isFinite(o.seed)) throw new Error('seed must be a finite number');
  // Bad labels would otherwise train silently on garbage (a one-hot out of range is all zeros).
  for (let i = 0; i < n; i++) {
    const label = o.y[i];
    const ok =
      shape.kind === 'logistic'
        ? label === 0 || label === 1
        : shape.kind === 'softmax'
          ? Number.isInteger(label) && label >= 0 && label < shape.outputDim
          : Number.isFinite(label);
    if (!ok) throw new Error(`invalid ${shape.kind} target ${label} at row ${i}`);
  }
}

/** Loss and accuracy (or MSE) of a parameter vector on local data, in plain JS. */
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
