/**
 * A site's k-means step (shared/src/model/kmeans.ts): its candidate centres in
 * the initialisation round, else its per-cluster sums and counts for the
 * received centres: one pass over the rows with k distances each. Under the
 * site's minClusterRows a cluster of too few of its rows is sent as zero.
 */
import { inertiaPerRow, kmeansInitialised, kmeansLocalUpdate, type ModelShape } from '@fl/shared';
import type { TrainOptions, TrainResult } from './options';

export function kmeansTrain(options: TrainOptions): TrainResult {
  const { shape, params, x, n } = options;
  const layout = { k: shape.outputDim, d: shape.inputDim };
  const { update, suppressed, suppressedRows } = kmeansLocalUpdate(params, layout, x, n, options.jobRows!, options.seed, options.minClusterRows);
  // The loss is the received centres' inertia on the training rows the update holds: it is sent with it, and the distances of
  // rows left out to centres the coordinator knows, against the sums of squares of the site's statistics, would tell of them.
  // None (NaN, left out of the metrics) before there are centres, or when every row was left out.
  const loss = kmeansInitialised(params, layout) && n > suppressedRows ? inertiaPerRow(params, layout.k, x, n, layout.d, suppressed) : NaN;
  return { params: update, loss, samples: n, steps: 1, suppressed: { clusters: suppressed.filter(Boolean).length, rows: suppressedRows } };
}

/** Inertia per row; NaN (left out of the metrics) for a model without centres yet. */
export function kmeansEvaluate(shape: ModelShape, params: Float32Array, x: Float32Array, n: number): { loss: number; inertia: number } {
  const layout = { k: shape.outputDim, d: shape.inputDim };
  const inertia = kmeansInitialised(params, layout) ? inertiaPerRow(params, layout.k, x, n, layout.d) : NaN;
  return { loss: inertia, inertia };
}
