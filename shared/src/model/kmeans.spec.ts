import { aggregate } from '../strategy/aggregate';
import { EMPTY_STATE } from '../strategy/state';
import { clusterSums, inertiaPerRow, kmeansInitialised, kmeansLocalUpdate, kmeansPlusPlus, kmeansStep, lloyd } from './kmeans';
import { seededRandom } from './random';

/** n rows of d features around the given centres, row-major, with the centre each row was drawn from. */
function blobs(centres: number[][], n: number, seed: number): { x: Float32Array; from: number[] } {
  const random = seededRandom(seed);
  const d = centres[0].length;
  const x = new Float32Array(n * d);
  const from: number[] = [];
  for (let r = 0; r < n; r++) {
    const c = r % centres.length;
    from.push(c);
    for (let j = 0; j < d; j++) x[r * d + j] = centres[c][j] + (random() - 0.5) * 0.4;
  }
  return { x, from };
}

const layout = { k: 3, d: 2 };
const CENTRES = [
  [0, 0],
  [5, 5],
  [-5, 5],
];

describe('federated k-means maths', () => {
  it('a Lloyd round over sites gives the centres one Lloyd step gives on the pooled rows', () => {
    // Prepare: three sites' rows, and a model already initialised
    const sites = [blobs(CENTRES, 30, 1), blobs(CENTRES, 45, 2), blobs(CENTRES, 12, 3)];
    const global = new Float32Array([0.5, 0.5, 4, 4, -4, 4, 0.3, 0.3, 0.4]);
    const jobRows = 87;

    // Execute
    const updates = sites.map((s, i) => ({ participant: `s${i}`, weights: kmeansLocalUpdate(global, layout, s.x, s.x.length / 2, jobRows, 7).update, numSamples: s.x.length / 2 }));
    const next = aggregate({ name: 'kmeans', k: 3 }, { global, state: EMPTY_STATE, training: { learningRate: 0.1, localEpochs: 1, batchSize: 32 } }, updates)!.weights;

    // Assert: the same as a Lloyd step on all rows at once; each cluster's share is its rows over the job's
    const pooled = new Float32Array(sites.flatMap((s) => Array.from(s.x)));
    const { sums, counts } = clusterSums(global, 3, pooled, jobRows, 2);
    for (let c = 0; c < 3; c++) {
      for (let j = 0; j < 2; j++) expect(next[c * 2 + j]).toBeCloseTo(sums[c * 2 + j] / counts[c], 5);
      expect(next[6 + c]).toBeCloseTo(counts[c] / jobRows, 6);
    }
  });

  it('an update holds no value above the features\' range or 1, whatever the site\'s size', () => {
    const site = blobs(CENTRES, 3000, 4);
    const global = new Float32Array([0, 0, 5, 5, -5, 5, 1, 1, 1]);
    const { update } = kmeansLocalUpdate(global, layout, site.x, 3000, 3000, 1);
    expect(Math.max(...Array.from(update, Math.abs))).toBeLessThanOrEqual(5.3);
    expect(update.slice(6).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('initialises from the sites\' candidate centres: each site proposes k, the coordinator reduces them to k near the true ones', () => {
    // Prepare: sites holding different mixes of the clusters, one with only two of the three
    const sites = [blobs(CENTRES, 60, 5), blobs(CENTRES.slice(0, 2), 40, 6), blobs(CENTRES, 30, 7)];
    const global = new Float32Array(9);
    expect(kmeansInitialised(global, layout)).toBe(false);

    // Execute
    const updates = sites.map((s, i) => ({ participant: `s${i}`, weights: kmeansLocalUpdate(global, layout, s.x, s.x.length / 2, 130, 11 + i).update, numSamples: s.x.length / 2 }));
    const input = { global, state: EMPTY_STATE, training: { learningRate: 0.1, localEpochs: 1, batchSize: 32 } };
    const first = aggregate({ name: 'kmeans', k: 3 }, input, updates)!.weights;
    const again = aggregate({ name: 'kmeans', k: 3 }, input, updates)!.weights;

    // Assert: deterministic, so the audit can recompute it; every true centre has a centre within 0.3
    expect(Array.from(again)).toEqual(Array.from(first));
    expect(kmeansInitialised(first, layout)).toBe(true);
    for (const [a, b] of CENTRES) {
      const nearest = Math.min(...[0, 1, 2].map((c) => Math.hypot(first[c * 2] - a, first[c * 2 + 1] - b)));
      expect(nearest).toBeLessThan(0.3);
    }
    expect(first.slice(6).reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
  });

  it('an empty cluster keeps its centre', () => {
    const global = new Float32Array([0, 0, 100, 100, -5, 5, 0.5, 0.5, 0]);
    const summed = new Float64Array([1, 1, 0, 0, -10, 10, 2, 0, 2]);
    expect(Array.from(kmeansStep(global, layout, summed))).toEqual([0.5, 0.5, 100, 100, -5, 5, 2, 0, 2]);
  });

  it('inertia per row is the mean squared distance to the nearest centre', () => {
    const x = new Float32Array([0, 0, 1, 0, 10, 10]);
    expect(inertiaPerRow(new Float32Array([0, 0, 10, 11]), 2, x, 3, 2)).toBeCloseTo((0 + 1 + 1) / 3, 10);
    expect(inertiaPerRow(new Float32Array([0, 0]), 1, x, 0, 2)).toBe(0);
  });

  it('k-means++ and Lloyd recover well-separated clusters', () => {
    const { x, from } = blobs(CENTRES, 90, 9);
    const { centres } = lloyd(x, 90, 2, 3, kmeansPlusPlus(x, 90, 2, 3, undefined, seededRandom(3)), 50);
    const { counts } = clusterSums(centres, 3, x, 90, 2);
    expect(Array.from(counts).sort()).toEqual([30, 30, 30]);
    expect(from).toHaveLength(90);
  });
});
