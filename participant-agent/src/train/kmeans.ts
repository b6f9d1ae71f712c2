/**
 * A site's k-means step (shared/src/model/kmeans.ts): its candidate centres in
 * the initialisation round, else its per-cluster sums and counts for the
 * received centres: one pass over the rows with k distances each.
 */
import { inertiaPerRow, kmeansInitialised, kmeansLocalUpdate, type ModelShape } from '@fl/shared';
import type { TrainOptions, TrainResult } from './options';

export function kmeansTrain(options: TrainOptions): TrainResult {
  const { shape, params, x, n } = options;
  const layout = { k: shape.outputDim, d: shape.inputDim };
  const update = kmeansLocalUpdate(params, layout, x, n, options.jobRows!, options.seed);
  // The loss is the received centres' inertia on the training rows; none (NaN, left out of the metrics) before there are centres.
  const loss = kmeansInitialised(params, layout) && n > 0 ? inertiaPerRow(params, layout.k, x, n, layout.d) : NaN;
  return { params: update, loss, samples: n, steps: 1 };
}

/** Inertia per row; NaN (left out of the metrics) for a model without centres yet. */
export function kmeansEvaluate(shape: ModelShape, params: Float32Array, x: Float32Array, n: number): { loss: number; inertia: number } {
  const layout = { k: shape.outputDim, d: shape.inputDim };
  const inertia = kmeansInitialised(params, layout) ? inertiaPerRow(params, layout.k, x, n, layout.d) : NaN;
  return { loss: inertia, inertia };
}
