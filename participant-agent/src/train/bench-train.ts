/**
 * Micro benchmark of trainLocal's throughput: logistic regression on 100,000 x 100
 * synthetic float32 samples, 5 epochs, batch 256, lr 0.1. The figure to compare
 * against is samples x epochs per second of wall time (shuffling included).
 */
import { ModelShape, initialParameters } from '@fl/shared';
import { selectBackend } from './backend';
import { trainLocal } from './trainer';

export async function benchTrain(): Promise<{ backend: string; samplesPerSec: number }> {
  const n = 100_000;
  const d = 100;
  const epochs = 5;
  const shape: ModelShape = { kind: 'logistic', inputDim: d, outputDim: 1 };
  const backend = await selectBackend();

  // A fixed linear rule on pseudo-random features, so the work is the same every run.
  let state = 12345;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296 - 0.5;
  };
  const truth = Float32Array.from({ length: d }, next);
  const x = new Float32Array(n * d);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let z = 0;
    for (let j = 0; j < d; j++) {
      const v = next();
      x[i * d + j] = v;
      z += v * truth[j];
    }
    y[i] = z > 0 ? 1 : 0;
  }
  const options = { shape, params: initialParameters(shape), x, y, n, batchSize: 256, learningRate: 0.1, l2: 0, seed: 1 };

  // A one-epoch warm-up, so that JIT and wasm memory growth are not timed.
  await trainLocal({ ...options, epochs: 1 });
  const started = process.hrtime.bigint();
  await trainLocal({ ...options, epochs });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { backend, samplesPerSec: (n * epochs) / seconds };
}
