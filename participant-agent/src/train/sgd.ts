/**
 * Mini-batch SGD for every model kind trained on a loss: with z = Wᵀx + b and the
 * kind's loss (losses.ts), a step is
 * θ ← θ − lr·(Σ x̃ ⊗ ∂loss/∂z / B + l2·W + μ·(θ − θ_global) + (c − c_i)),
 * x̃ being the row with a constant 1 for the bias, which is left out of the l2
 * penalty; the proximal term (FedProx's μ) and the control variate correction
 * (SCAFFOLD's c − c_i) only when the round's config gives them. Plain loops over
 * the rows in float64: at the sizes of the use case a step is a few thousand
 * multiply-adds, which a tensor library's per-op dispatch costs many times over
 * (docs/adr/0036-training-in-plain-typescript.md).
 */
import { logits, seededRandom } from '@fl/shared';
import { isRight, LOSSES } from './losses';
import { shuffle, type TrainOptions, type TrainResult } from './options';

/** Trains; the options are validated and n > 0. */
export async function sgd(options: TrainOptions): Promise<TrainResult> {
  const { shape, x, y, n, epochs, batchSize, learningRate } = options;
  const d = shape.inputDim;
  const k = shape.outputDim;
  if (shape.kind === 'kmeans') throw new Error('k-means is not trained by gradient steps');
  const loss = LOSSES[shape.kind];
  const classifier = shape.kind !== 'linear';
  // The shared layout (W row-major, then b) is a (d + 1) x k matrix θ whose last row is the bias.
  const size = (d + 1) * k;
  const weights = d * k;
  const theta = Float64Array.from(options.params);
  const global = options.proximalMu ? Float64Array.from(options.params) : undefined;
  const gradient = new Float64Array(size);
  const z = new Float64Array(k);
  const rowGradient = new Float64Array(k);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const random = seededRandom(options.seed);

  let steps = 0;
  let lossSum = 0;
  let right = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    shuffle(order, random);
    // The reported loss and accuracy are the last epoch's, each row measured before its batch's update.
    const measure = epoch === epochs - 1;
    for (let start = 0, end = 0; start < n; start = end) {
      end = Math.min(start + batchSize, n);
      // Rows too few for a step of their own under the site's policy join this one.
      if (n - end < (options.minBatchSize ?? 1)) end = n;
      gradient.fill(0);
      for (let i = start; i < end; i++) {
        const row = order[i];
        logits(theta, x, row, d, k, z);
        const rowLoss = loss(z, k, y[row], rowGradient);
        if (measure) {
          lossSum += rowLoss;
          if (classifier && isRight(z, k, y[row])) right++;
        }
        accumulate(gradient, x, row, d, k, rowGradient);
      }
      step(theta, gradient, learningRate / (end - start), weights, options, global);
      steps++;
    }
    // Lets socket heartbeats and timers run between epochs on large data sets.
    if (epoch < epochs - 1) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return { params: Float32Array.from(theta), loss: lossSum / n, ...(classifier && { accuracy: right / n }), samples: n, steps };
}

/** gradient += x̃ ⊗ g for row `row`: the weights' rows, then the bias row. */
function accumulate(gradient: Float64Array, x: Float32Array, row: number, d: number, k: number, g: Float64Array): void {
  const offset = row * d;
  if (k === 1) {
    const g0 = g[0];
    for (let j = 0; j < d; j++) gradient[j] += x[offset + j] * g0;
    gradient[d] += g0;
    return;
  }
  for (let j = 0; j < d; j++) {
    const value = x[offset + j];
    if (value === 0) continue;
    for (let c = 0, at = j * k; c < k; c++, at++) gradient[at] += value * g[c];
  }
  for (let c = 0, at = d * k; c < k; c++, at++) gradient[at] += g[c];
}

/** θ ← θ − (scale·gradient + lr·(l2·W + μ·(θ − θ_global) + correction)), every term read before θ changes. */
function step(theta: Float64Array, gradient: Float64Array, scale: number, weights: number, options: TrainOptions, global: Float64Array | undefined): void {
  const { learningRate: lr, l2, correction } = options;
  const penalty = lr * l2;
  const proximal = lr * (options.proximalMu ?? 0);
  for (let p = 0; p < theta.length; p++) {
    let delta = scale * gradient[p];
    if (penalty !== 0 && p < weights) delta += penalty * theta[p];
    if (global) delta += proximal * (theta[p] - global[p]);
    if (correction) delta += lr * correction[p];
    theta[p] -= delta;
  }
}
