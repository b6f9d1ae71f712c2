/**
 * Mini-batch SGD with TF.js ops on the selected backend, for every model kind:
 * with z = XW + b and the kind's loss (losses.ts), a step is
 * θ ← θ − lr·(Xᵀ·∂rows/∂z / B + l2·W + μ·(θ − θ_global) + (c − c_i)), the bias
 * left out of the l2 penalty; the proximal term (FedProx's μ) and the control
 * variate correction (SCAFFOLD's c − c_i) only when the round's config gives them.
 * Explicit steps rather than a tf.LayersModel and fit(), whose per-batch
 * bookkeeping made training several times slower for models this small.
 */
import * as tf from '@tensorflow/tfjs-core';
import { seededRandom } from '@fl/shared';
import { countRight, isOneHot, LOSSES, targetsOf } from './losses';
import { shuffle, type TrainOptions, type TrainResult } from './options';

/** Trains on the current TF.js backend; the options are validated and n > 0. */
export async function sgd(options: TrainOptions): Promise<TrainResult> {
  const { shape, n, epochs, batchSize, learningRate, l2 } = options;
  const d = shape.inputDim;
  const k = shape.outputDim;
  if (shape.kind === 'kmeans') throw new Error('k-means is not trained by gradient steps');
  const loss = LOSSES[shape.kind];
  // The bias is folded into the weights as an extra input that is always 1: the
  // shared layout (W row-major, then b) is then exactly a (d+1) x k matrix θ, and
  // one matMul yields both Xᵀg and the bias gradient Σg.
  const cols = d + 1;

  // A batch's rows, gathered from the data in the epoch's shuffled order: d features
  // and the constant 1. Small enough to stay in cache, where a shuffled copy of the
  // whole data set cost more in page faults than the training arithmetic.
  const batchRows = new Float32Array(Math.min(batchSize, n) * cols);
  const batchLabels = new Float32Array(Math.min(batchSize, n));
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const oneHot = isOneHot(shape) ? new Float32Array(Math.min(batchSize, n) * k) : undefined;
  const random = seededRandom(options.seed);

  // A copy, because the cpu backend keeps a reference to the array it is given.
  const theta = tf.tidy(() => tf.variable(tf.tensor2d(options.params.slice(), [cols, k]), false));
  const lossSum = tf.tidy(() => tf.variable(tf.scalar(0), false));
  // The step's l2 term lr·l2·W: on the weight rows of θ, none on the bias row.
  const penalty = l2 !== 0 ? weightRows(d, learningRate * l2) : undefined;
  const fullStep = tf.scalar(learningRate / batchSize);
  // FedProx: lr·μ·(θ − θ_global), the gradient of (μ/2)·‖θ − θ_global‖², pulls each step back towards the global model.
  const proximal = options.proximalMu ? { global: tf.tensor2d(options.params.slice(), [cols, k]), scale: tf.scalar(learningRate * options.proximalMu) } : undefined;
  // SCAFFOLD: lr·(c − c_i), the same for every step.
  const correction = options.correction ? tf.tidy(() => tf.mul(tf.tensor2d(options.correction!.slice(), [cols, k]), learningRate)) : undefined;
  let steps = 0;
  let right = 0;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      shuffle(order, random);
      // The reported loss and accuracy are the last epoch's, each batch measured before its own update.
      const measure = epoch === epochs - 1;
      for (let start = 0; start < n; start += batchSize) {
        const size = Math.min(batchSize, n - start);
        tf.tidy(() => {
          // Gathered on the host and uploaded: tf.slice or tf.gather on wasm copy the whole tensor each call.
          gatherBatch(options, order, start, size, batchRows, batchLabels);
          const xb = tf.tensor2d(batchRows.subarray(0, size * cols), [size, cols]);
          const tb = tf.tensor2d(targetsOf(shape, batchLabels, 0, size, oneHot), [size, k]);
          const z = tf.matMul(xb, theta) as tf.Tensor2D;
          if (measure) {
            lossSum.assign(tf.add(lossSum, tf.sum(loss.rows(z, tb))));
            if (shape.kind !== 'linear') right += countRight(z.dataSync(), batchLabels, 0, k);
          }
          const scale = size === batchSize ? fullStep : tf.scalar(learningRate / size);
          let step = tf.mul(tf.matMul(xb, loss.gradient(z, tb), true, false), scale);
          if (penalty) step = tf.add(step, tf.mul(theta, penalty));
          if (proximal) step = tf.add(step, tf.mul(tf.sub(theta, proximal.global), proximal.scale));
          if (correction) step = tf.add(step, correction);
          theta.assign(tf.sub(theta, step));
        });
        steps++;
      }
      // Lets socket heartbeats and timers run between epochs on large data sets.
      if (epoch < epochs - 1) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    // The only other readbacks: one for the parameters, one for the loss.
    const params = Float32Array.from(theta.dataSync());
    const meanLoss = lossSum.dataSync()[0] / n;
    return { params, loss: meanLoss, ...(shape.kind !== 'linear' && { accuracy: right / n }), samples: n, steps };
  } finally {
    theta.dispose();
    lossSum.dispose();
    penalty?.dispose();
    fullStep.dispose();
    proximal?.global.dispose();
    proximal?.scale.dispose();
    correction?.dispose();
  }
}

/** A (d+1) x 1 column: `value` for each weight row of θ, 0 for the bias row. */
function weightRows(d: number, value: number): tf.Tensor2D {
  const column = new Float32Array(d + 1).fill(value);
  column[d] = 0;
  return tf.tensor2d(column, [d + 1, 1]);
}

/** Copies rows order[start..start+size) of the data, each followed by the constant 1, and their labels. */
function gatherBatch(options: TrainOptions, order: Uint32Array, start: number, size: number, rows: Float32Array, labels: Float32Array): void {
  const { x, y } = options;
  const d = options.shape.inputDim;
  for (let i = 0; i < size; i++) {
    const row = order[start + i];
    rows.set(x.subarray(row * d, row * d + d), i * (d + 1));
    rows[i * (d + 1) + d] = 1;
    labels[i] = y[row];
  }
}
