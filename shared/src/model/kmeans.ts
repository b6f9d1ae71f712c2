/**
 * Federated k-means, the maths: pure functions the agent, the coordinator's
 * strategy, the audit's recomputation and the simulator all use.
 *
 * A k-means model is one Float32Array: the k centres row-major [k x d], then k
 * weights, each cluster's share of the job's rows at the last round (the cluster
 * sizes as fractions). All weights 0 is a model not yet initialised.
 *
 * A site's update has the same layout and is a plain sum across sites:
 * - initialisation round: the site's own k centres from k-means++ and Lloyd on
 *   its rows, each times its cluster's share of the job's rows, and those shares;
 * - Lloyd round: per cluster, the sum of the site's rows nearest to its centre and
 *   their count, both divided by the job's row count (so every value stays within
 *   the feature range and below 1, whatever a site's size).
 * In either, a cluster the site's small-cell suppression leaves out is all zero.
 * Dividing by the job's rows, known to every site from the preprocessing, changes
 * no centre: a centre is a ratio of two sums scaled alike.
 */
import { seededRandom } from './random';

export interface KMeansLayout {
  k: number;
  d: number;
}

export function kmeansParameterCount({ k, d }: KMeansLayout): number {
  return k * d + k;
}

/** Whether a k-means model still waits for its initialisation: every cluster weight is 0. */
export function kmeansInitialised(params: ArrayLike<number>, { k, d }: KMeansLayout): boolean {
  for (let c = 0; c < k; c++) if (params[k * d + c] !== 0) return true;
  return false;
}

/** The index of the centre nearest to row r of `x`, and its squared distance. */
export function nearestCentre(centres: ArrayLike<number>, k: number, d: number, x: ArrayLike<number>, r: number): { cluster: number; distance: number } {
  let cluster = 0;
  let distance = Infinity;
  for (let c = 0; c < k; c++) {
    let sum = 0;
    for (let j = 0; j < d; j++) {
      const diff = x[r * d + j] - centres[c * d + j];
      sum += diff * diff;
    }
    if (sum < distance) {
      distance = sum;
      cluster = c;
    }
  }
  return { cluster, distance };
}

/** Mean squared distance of n rows to their nearest centre, the rows of clusters `leftOut` marks not counted: inertia per row; 0 without rows. */
export function inertiaPerRow(centres: ArrayLike<number>, k: number, x: ArrayLike<number>, n: number, d: number, leftOut?: readonly boolean[]): number {
  let sum = 0;
  let rows = 0;
  for (let r = 0; r < n; r++) {
    const { cluster, distance } = nearestCentre(centres, k, d, x, r);
    if (leftOut?.[cluster]) continue;
    sum += distance;
    rows++;
  }
  return rows > 0 ? sum / rows : 0;
}

/** Per cluster, the sum of the rows nearest to its centre (k x d) and their count (k), in float64. */
export function clusterSums(centres: ArrayLike<number>, k: number, x: ArrayLike<number>, n: number, d: number, weights?: ArrayLike<number>) {
  const sums = new Float64Array(k * d);
  const counts = new Float64Array(k);
  for (let r = 0; r < n; r++) {
    const { cluster } = nearestCentre(centres, k, d, x, r);
    const w = weights ? weights[r] : 1;
    counts[cluster] += w;
    for (let j = 0; j < d; j++) sums[cluster * d + j] += w * x[r * d + j];
  }
  return { sums, counts };
}

/**
 * Weighted k-means++ seeding: the first centre drawn by weight, each next one
 * by weight x squared distance to the nearest centre chosen so far. With `random`
 * absent it is deterministic, each choice the row of largest such score, so that
 * the coordinator's reduction can be recomputed by the audit.
 */
export function kmeansPlusPlus(x: ArrayLike<number>, n: number, d: number, k: number, weights?: ArrayLike<number>, random?: () => number): Float64Array {
  const centres = new Float64Array(k * d);
  const best = new Float64Array(n).fill(Infinity);
  const w = (r: number) => (weights ? weights[r] : 1);
  for (let c = 0; c < k; c++) {
    const score = (r: number) => (c === 0 ? w(r) : w(r) * best[r]);
    let pick = -1;
    let total = 0;
    for (let r = 0; r < n; r++) total += score(r);
    if (total > 0 && random) {
      let target = random() * total;
      for (let r = 0; r < n && pick < 0; r++) {
        target -= score(r);
        if (target < 0) pick = r;
      }
      if (pick < 0) pick = n - 1;
    } else {
      // deterministic, or every row already a centre: the largest score, the first of ties
      let top = -1;
      for (let r = 0; r < n; r++) if (score(r) > top) [top, pick] = [score(r), r];
    }
    for (let j = 0; j < d; j++) centres[c * d + j] = x[pick * d + j];
    for (let r = 0; r < n; r++) {
      let sum = 0;
      for (let j = 0; j < d; j++) sum += (x[r * d + j] - centres[c * d + j]) ** 2;
      if (sum < best[r]) best[r] = sum;
    }
  }
  return centres;
}

/**
 * Lloyd's iterations on weighted rows from the given centres, until no centre
 * moves or `iterations` are done; a cluster left empty keeps its centre.
 * Returns the centres and each cluster's total weight.
 */
export function lloyd(
  x: ArrayLike<number>,
  n: number,
  d: number,
  k: number,
  start: Float64Array,
  iterations: number,
  weights?: ArrayLike<number>,
): { centres: Float64Array; counts: Float64Array } {
  const centres = start.slice();
  let counts = new Float64Array(k);
  for (let i = 0; i < iterations; i++) {
    const step = clusterSums(centres, k, x, n, d, weights);
    counts = step.counts;
    let moved = false;
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) continue;
      for (let j = 0; j < d; j++) {
        const next = step.sums[c * d + j] / counts[c];
        if (next !== centres[c * d + j]) moved = true;
        centres[c * d + j] = next;
      }
    }
    if (!moved) break;
  }
  return { centres, counts: clusterSums(centres, k, x, n, d, weights).counts };
}

/** Lloyd iterations a site runs on its own rows to propose its candidate centres, and the coordinator on the candidates. */
export const KMEANS_LOCAL_ITERATIONS = 50;

/** A site's update, and what small-cell suppression left out of it. */
export interface KMeansSiteUpdate {
  update: Float32Array;
  /** per cluster, whether it was left out (sent as zero) */
  suppressed: boolean[];
  /** the site's rows in the clusters left out */
  suppressedRows: number;
}

/**
 * A site's update for the job's k-means model `global` (see the header): its
 * initialisation proposal when the model is not initialised, else its Lloyd sums
 * and counts. `jobRows` is the job's row count from the preprocessing. Under
 * `minClusterRows` (suppressedClusters) a cluster left out is sent as zero sum and count.
 */
export function kmeansLocalUpdate(global: Float32Array, layout: KMeansLayout, x: Float32Array, n: number, jobRows: number, seed: number, minClusterRows = 1): KMeansSiteUpdate {
  const { k, d } = layout;
  const update = new Float32Array(kmeansParameterCount(layout));
  if (n === 0) return { update, suppressed: new Array<boolean>(k).fill(false), suppressedRows: 0 };
  const scale = 1 / Math.max(jobRows, n);
  let counts: Float64Array;
  if (!kmeansInitialised(global, layout)) {
    const start = kmeansPlusPlus(x, n, d, k, undefined, seededRandom(seed));
    const local = lloyd(x, n, d, k, start, KMEANS_LOCAL_ITERATIONS);
    counts = local.counts;
    for (let c = 0; c < k; c++) {
      const share = counts[c] * scale;
      for (let j = 0; j < d; j++) update[c * d + j] = local.centres[c * d + j] * share;
      update[k * d + c] = share;
    }
  } else {
    const step = clusterSums(global, k, x, n, d);
    counts = step.counts;
    for (let i = 0; i < k * d; i++) update[i] = step.sums[i] * scale;
    for (let c = 0; c < k; c++) update[k * d + c] = counts[c] * scale;
  }
  const suppressed = suppressedClusters(counts, minClusterRows);
  let suppressedRows = 0;
  for (let c = 0; c < k; c++) {
    if (!suppressed[c]) continue;
    update.fill(0, c * d, (c + 1) * d);
    update[k * d + c] = 0;
    suppressedRows += counts[c];
  }
  return { update, suppressed, suppressedRows };
}

/**
 * Small-cell suppression: which clusters a site leaves out of its update, given
 * its rows in each. First those holding fewer than `fewest` (but some); then,
 * while the rows left out are fewer than `fewest`, the smallest cluster still
 * sent (the first of ties), since the site's total, which its statistics or any
 * round it left nothing out give, less what it sent is the sum of the rows left out.
 */
export function suppressedClusters(counts: ArrayLike<number>, fewest: number): boolean[] {
  const left = Array.from(counts, (count) => count > 0 && count < fewest);
  let rows = 0;
  for (let c = 0; c < counts.length; c++) if (left[c]) rows += counts[c];
  while (rows > 0 && rows < fewest) {
    let smallest = -1;
    for (let c = 0; c < counts.length; c++) if (!left[c] && counts[c] > 0 && (smallest < 0 || counts[c] < counts[smallest])) smallest = c;
    if (smallest < 0) break;
    left[smallest] = true;
    rows += counts[smallest];
  }
  return left;
}

/**
 * The coordinator's step from the summed updates. A Lloyd round: each centre is
 * its clusters' summed rows over their summed count (an empty cluster keeps its
 * centre; a round with every cluster empty keeps the model). The initialisation
 * round: the sites' candidate centres, each weighted by its share, reduced to k
 * by deterministic weighted k-means++ and Lloyd.
 */
export function kmeansStep(global: Float32Array, layout: KMeansLayout, summed: ArrayLike<number>, candidates?: readonly Float32Array[]): Float32Array {
  const { k, d } = layout;
  const next = new Float32Array(kmeansParameterCount(layout));
  if (!kmeansInitialised(global, layout)) {
    const points: number[] = [];
    const weights: number[] = [];
    for (const update of candidates ?? []) {
      for (let c = 0; c < k; c++) {
        const share = update[k * d + c];
        if (!(share > 0)) continue;
        for (let j = 0; j < d; j++) points.push(update[c * d + j] / share);
        weights.push(share);
      }
    }
    if (weights.length === 0) return global.slice();
    const start = kmeansPlusPlus(points, weights.length, d, Math.min(k, weights.length), weights);
    const padded = new Float64Array(k * d);
    padded.set(start);
    const { centres, counts } = lloyd(points, weights.length, d, k, padded, KMEANS_LOCAL_ITERATIONS, weights);
    next.set(centres);
    next.set(counts, k * d);
    return next;
  }
  // Every weight 0 would make the model one not yet initialised, and the next round would start it again.
  let counted = false;
  for (let c = 0; c < k; c++) if (summed[k * d + c] > 0) counted = true;
  if (!counted) return global.slice();
  for (let c = 0; c < k; c++) {
    const count = summed[k * d + c];
    for (let j = 0; j < d; j++) next[c * d + j] = count > 0 ? summed[c * d + j] / count : global[c * d + j];
    next[k * d + c] = count;
  }
  return next;
}
