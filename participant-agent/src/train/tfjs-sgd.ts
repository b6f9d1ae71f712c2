/**
 * Local training with TF.js ops on the selected backend, the default engine:
 * mini-batch SGD with closed-form gradients rather
 * than a tf.LayersModel and fit(), whose per-batch bookkeeping measured about
 * 20x slower for models this small. The gradient of every kind has the same
 * form, dW = Xᵀg / B + l2·W and db = mean(g), with g = p − y where p is the
 * sigmoid, softmax or identity of XW + b (y one-hot for softmax).
 */
import * as tf from '@tensorflow/tfjs-core';
import { seededRandom, type ModelShape } from '@fl/shared';
import { shuffle, type TrainOptions, type TrainResult } from './options';
import { predictedClass } from './outputs';

/** Trains on the current TF.js backend; the options are validated and n > 0. */
export async function trainWithTfjs(options: TrainOptions): Promise<TrainResult> {
  const { shape, n, epochs, batchSize, learningRate, l2 } = options;
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
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
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
  let right = 0;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      shuffle(order, random);
      gatherRows(options, order, rows, labels, cols);
      const measure = epoch === epochs - 1;
      for (let start = 0; start < n; start += batchSize) {
        const size = Math.min(batchSize, n - start);
        tf.tidy(() => {
          // Batches are uploaded from the shuffled host copy: tf.slice/tf.gather
          // per batch measured some 500x slower on wasm.
          const xb = tf.tensor2d(rows.subarray(start * cols, (start + size) * cols), [size, cols]);
          const yb = tf.tensor2d(oneHot ? encodeOneHot(labels, start, size, k, oneHot) : labels.subarray(start, start + size), [size, k]);
          const { p, z } = forward(shape, xb, theta, measure ? lossSum : undefined, yb);
          // Counted on the host: on the agent's backends (native, wasm, cpu) reading a batch back is a
          // copy of a few µs, where counting on the device takes several ops per batch, and keeping
          // the logits to read them back at once measured ~2.5 ms a round on 2,000 x 100 (wasm).
          if (z && shape.kind !== 'linear') right += countRight(shape.kind, z.dataSync(), labels, start, k);
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
    // The only other readbacks: one for the parameters, one for the loss.
    const params = Float32Array.from(theta.dataSync());
    const loss = lossSum.dataSync()[0] / n;
    return { params, loss, ...(shape.kind !== 'linear' && { accuracy: right / n }), samples: n, steps };
  } finally {
    theta.dispose();
    lossSum.dispose();
    decay?.dispose();
    fullStep.dispose();
  }
}

/**
 * Predictions p for a batch; when `lossSum` is given, also adds the batch's summed
 * loss to it and returns the logits z = XW + b. Measuring goes through the logits,
 * which costs extra ops, so it is only done in the epoch whose loss is reported.
 */
function forward(
  shape: ModelShape,
  xb: tf.Tensor2D,
  theta: tf.Variable<tf.Rank.R2>,
  lossSum: tf.Variable | undefined,
  yb: tf.Tensor2D,
): { p: tf.Tensor; z?: tf.Tensor } {
  if (!lossSum) {
    switch (shape.kind) {
      case 'logistic':
        return { p: tf.fused.matMul({ a: xb, b: theta, activation: 'sigmoid' }) };
      case 'softmax':
        return { p: tf.softmax(tf.matMul(xb, theta)) };
      case 'linear':
        return { p: tf.matMul(xb, theta) };
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
  return { p, z };
}

/** The rows of a batch, from `start` in the epoch's order, that their logits z = XW + b classify right. */
function countRight(kind: 'logistic' | 'softmax', z: ArrayLike<number>, labels: Float32Array, start: number, k: number): number {
  // The bias is folded into z here.
  const bias = new Float32Array(k);
  let right = 0;
  for (let i = 0; i * k < z.length; i++) if (predictedClass(kind, z, i * k, bias, k) === labels[start + i]) right++;
  return right;
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
 * Writes row order[t] of the data to position t of the shuffled copy: the batches
 * the kernel engine visits through the same order (sgd.ts), so that both engines
 * take the same steps from the same seed. (Scattering rows to positions instead
 * measured ~15% faster here, on 100k x 100, but would give other batches.)
 */
function gatherRows(options: TrainOptions, order: Uint32Array, rows: Float32Array, labels: Float32Array, cols: number): void {
  const { x, y, n } = options;
  const d = cols - 1;
  for (let t = 0; t < n; t++) {
    const from = order[t];
    rows.set(x.subarray(from * d, from * d + d), t * cols);
    labels[t] = y[from];
  }
}
