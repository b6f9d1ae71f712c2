/**
 * Local training on the kernel (kernel.ts): mini-batch SGD with closed-form
 * gradients. Every kind has the same gradient, dW = Xᵀr / B + l2·W and
 * db = mean(r), with the residual r = p − y where p is the sigmoid, softmax or
 * identity of XW + b (y one-hot for softmax); the kernel computes XW and XᵀR,
 * this module the O(batch x outputs) rest. Rows are visited through a shuffled
 * index, never copied into a shuffled data set.
 */
import { seededRandom, type ModelShape } from '@fl/shared';
import { readWeights, writeWeights, type Kernel } from './kernel';
import { shuffle, type TrainOptions, type TrainResult } from './options';
import { predictedClass, sigmoidOf, softmaxRow, softplusOf } from './outputs';

/** Calls share the kernel's memory, so they run one at a time even when callers overlap (agents in one process). */
let queue: Promise<unknown> = Promise.resolve();

/** Trains with the kernel; the options are validated and n > 0. */
export function trainWithKernel(options: TrainOptions, kernel: Kernel): Promise<TrainResult> {
  const run = queue.then(() => sgd(options, kernel));
  queue = run.catch(() => undefined);
  return run;
}

async function sgd(options: TrainOptions, kernel: Kernel): Promise<TrainResult> {
  const { shape, x, y, n, epochs, batchSize, learningRate, l2 } = options;
  const d = shape.inputDim;
  const k = shape.outputDim;
  const { order, w, z } = kernel.load(x, n, d, k, Math.min(batchSize, n));
  for (let i = 0; i < n; i++) order[i] = i;
  // The kernel keeps one contiguous row of d weights per output; the bias stays here.
  writeWeights(w, options.params, d, k);
  const bias = Float64Array.from(options.params.subarray(d * k));
  const biasGradient = new Float64Array(k);
  const random = seededRandom(options.seed);
  // W·(1 − lr·l2): the penalty is on the weights only, never the bias.
  const decay = 1 - learningRate * l2;
  const tally: Tally = { loss: 0, right: 0 };
  let steps = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    shuffle(order, random);
    // The reported loss and accuracy are the last epoch's, each batch measured before its own update.
    const measure = epoch === epochs - 1 ? tally : undefined;
    for (let start = 0; start < n; start += batchSize) {
      const end = Math.min(n, start + batchSize);
      kernel.forward(start, end);
      residuals(shape, z, order, start, end, y, bias, biasGradient, measure);
      kernel.backward(start, end);
      const scale = learningRate / (end - start);
      kernel.step(decay, scale);
      for (let c = 0; c < k; c++) {
        bias[c] -= scale * biasGradient[c];
        biasGradient[c] = 0;
      }
      steps++;
    }
    // Lets socket heartbeats and timers run between epochs on large data sets.
    if (epoch < epochs - 1) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const params = new Float32Array(options.params.length);
  readWeights(w, params, d, k);
  params.set(bias, d * k);
  return { params, loss: tally.loss / n, ...(shape.kind !== 'linear' && { accuracy: tally.right / n }), samples: n, steps };
}

/** Sums over the rows of the epoch that reports them. */
interface Tally {
  loss: number;
  /** rows classified right (logistic and softmax) */
  right: number;
}

/**
 * Turns the batch's products z = XW (without bias) into residuals r = p − y in
 * place, adds them up into the bias gradient, and when given `measure` adds the
 * batch's summed loss (binary cross-entropy, softmax cross-entropy or half the
 * squared error) and the rows it classifies right to it: the loss costs a
 * logarithm per row, paid only in the epoch that reports it.
 */
function residuals(
  shape: ModelShape,
  z: Float32Array,
  order: Uint32Array,
  start: number,
  end: number,
  y: Float32Array,
  bias: Float64Array,
  biasGradient: Float64Array,
  measure: Tally | undefined,
): void {
  let loss = 0;
  let right = 0;
  const size = end - start;
  switch (shape.kind) {
    case 'logistic':
      for (let i = 0; i < size; i++) {
        const label = y[order[start + i]];
        const v = z[i] + bias[0];
        const e = Math.exp(-Math.abs(v));
        // −[y·log σ(v) + (1−y)·log(1−σ(v))] = softplus(v) − y·v, stable for large |v|.
        if (measure) {
          loss += softplusOf(v, e) - label * v;
          if (predictedClass('logistic', z, i, bias, 1) === label) right++;
        }
        const r = sigmoidOf(v, e) - label;
        z[i] = r;
        biasGradient[0] += r;
      }
      break;
    case 'linear':
      for (let i = 0; i < size; i++) {
        const r = z[i] + bias[0] - y[order[start + i]];
        if (measure) loss += 0.5 * r * r;
        z[i] = r;
        biasGradient[0] += r;
      }
      break;
    case 'softmax': {
      const k = shape.outputDim;
      for (let i = 0; i < size; i++) {
        const label = y[order[start + i]];
        const row = i * k;
        const labelLogit = z[row + label] + bias[label];
        if (measure && predictedClass('softmax', z, row, bias, k) === label) right++;
        const logSum = softmaxRow(z, row, bias, k, z);
        if (measure) loss += logSum - labelLogit;
        z[row + label] -= 1;
        for (let c = 0; c < k; c++) biasGradient[c] += z[row + c];
      }
      break;
    }
  }
  if (measure) {
    measure.loss += loss;
    measure.right += right;
  }
}
