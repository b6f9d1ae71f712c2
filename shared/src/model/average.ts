/**
 * The weighted mean of models, folded in the order they come into a float64
 * running sum: FedAvg's arithmetic. The coordinator aggregates with it and the
 * audit verifier recomputes with it, so a recomputed global model is
 * bit-identical when the updates are folded in the same order.
 */

/**
 * sum += a · scaleA + b · scaleB, added in that order for each weight: the same
 * float64 operations as folding a, then b, each in its own pass over the sum,
 * so bit-identical to that, with one pass instead of two. The sum (8 bytes a
 * weight) is what a fold mostly reads and writes: two updates a pass folded
 * ~5.8 GB/s against ~4.6 one at a time on the benchmark machine. Eight
 * independent lanes, loaded before they are stored, let V8 keep them in
 * registers (the plain loop folded one update at a time at ~2.7 GB/s).
 */
function foldPair(sum: Float64Array, a: Float32Array, scaleA: number, b: Float32Array, scaleB: number): void {
  const n = sum.length;
  let i = 0;
  for (; i + 7 < n; i += 8) {
    const s0 = sum[i] + a[i] * scaleA + b[i] * scaleB;
    const s1 = sum[i + 1] + a[i + 1] * scaleA + b[i + 1] * scaleB;
    const s2 = sum[i + 2] + a[i + 2] * scaleA + b[i + 2] * scaleB;
    const s3 = sum[i + 3] + a[i + 3] * scaleA + b[i + 3] * scaleB;
    const s4 = sum[i + 4] + a[i + 4] * scaleA + b[i + 4] * scaleB;
    const s5 = sum[i + 5] + a[i + 5] * scaleA + b[i + 5] * scaleB;
    const s6 = sum[i + 6] + a[i + 6] * scaleA + b[i + 6] * scaleB;
    const s7 = sum[i + 7] + a[i + 7] * scaleA + b[i + 7] * scaleB;
    sum[i] = s0;
    sum[i + 1] = s1;
    sum[i + 2] = s2;
    sum[i + 3] = s3;
    sum[i + 4] = s4;
    sum[i + 5] = s5;
    sum[i + 6] = s6;
    sum[i + 7] = s7;
  }
  for (; i < n; i++) sum[i] = sum[i] + a[i] * scaleA + b[i] * scaleB;
}

/**
 * The first pair, into a sum not yet written: the same operations as foldPair
 * on a zeroed sum (0 + a · scaleA + b · scaleB), without zeroing the sum first
 * or reading it back. Unrolled as foldPair is, for the same reason (a plain loop:
 * 1.9 against 1.25 ms for 1,000,000 weights), and apart from it: one loop with a
 * `first ? 0 : sum[i]` per weight slowed every later fold from 1.36 to 1.86 ms.
 */
function firstPair(sum: Float64Array, a: Float32Array, scaleA: number, b: Float32Array, scaleB: number): void {
  const n = sum.length;
  let i = 0;
  for (; i + 7 < n; i += 8) {
    const s0 = 0 + a[i] * scaleA + b[i] * scaleB;
    const s1 = 0 + a[i + 1] * scaleA + b[i + 1] * scaleB;
    const s2 = 0 + a[i + 2] * scaleA + b[i + 2] * scaleB;
    const s3 = 0 + a[i + 3] * scaleA + b[i + 3] * scaleB;
    const s4 = 0 + a[i + 4] * scaleA + b[i + 4] * scaleB;
    const s5 = 0 + a[i + 5] * scaleA + b[i + 5] * scaleB;
    const s6 = 0 + a[i + 6] * scaleA + b[i + 6] * scaleB;
    const s7 = 0 + a[i + 7] * scaleA + b[i + 7] * scaleB;
    sum[i] = s0;
    sum[i + 1] = s1;
    sum[i + 2] = s2;
    sum[i + 3] = s3;
    sum[i + 4] = s4;
    sum[i + 5] = s5;
    sum[i + 6] = s6;
    sum[i + 7] = s7;
  }
  for (; i < n; i++) sum[i] = 0 + a[i] * scaleA + b[i] * scaleB;
}

/**
 * Updates are folded in pairs: one waits, unfolded, for the next (or for
 * result()), so at most one update more than with folding each at once is held.
 * The result is the same, bit for bit, as folding each in its turn.
 */
export class WeightedAverage {
  private readonly sum: Float64Array;
  private total = 0;
  private waiting: { weights: Float32Array; weight: number } | null = null;
  /** whether a pair has been folded: until then the sum holds nothing of this average (not even zeros) */
  private folded = false;
  private taken = false;

  /** `sum`: an array of `size` to reuse, e.g. the previous round's; its contents do not matter. */
  constructor(
    readonly size: number,
    sum?: Float64Array,
  ) {
    if (sum && sum.length !== size) throw new Error('the running sum to reuse differs in size');
    // Never zeroed: the first pair writes every element (firstPair).
    this.sum = sum ?? new Float64Array(Buffer.allocUnsafeSlow(size * 8).buffer, 0, size);
  }

  /** The running sum, for a later WeightedAverage of the same size once this one's result is taken. */
  get buffer(): Float64Array {
    return this.sum;
  }

  get weight(): number {
    return this.total;
  }

  /** `weights` is read until the next add() or result(): it must not change before. */
  add(weights: Float32Array, weight: number): void {
    if (this.taken) throw new Error('an update after the result was taken');
    if (weights.length !== this.sum.length) throw new Error('update size differs from the global model');
    if (this.waiting) {
      (this.folded ? foldPair : firstPair)(this.sum, this.waiting.weights, this.waiting.weight, weights, weight);
      this.folded = true;
      this.waiting = null;
    } else {
      this.waiting = { weights, weight };
    }
    this.total += weight;
  }

  /**
   * The mean as float32, or null when nothing was added. Taken once: the update
   * still waiting is folded on the way to the mean, not into the sum.
   * `onPiece`, when given, sees each piece of the mean as soon as it is written
   * (MEAN_PIECE weights, the last one shorter), in order, e.g. to hash it meanwhile.
   */
  result(onPiece?: (piece: Float32Array) => void): Float32Array | null {
    if (this.taken) throw new Error('the result was already taken');
    this.taken = true;
    if (this.total === 0) return null;
    const { sum, total, waiting, folded } = this;
    this.waiting = null;
    const n = sum.length;
    // Uninitialized: every element is written below; zeroing showed as ~0.9 ms of memset a d = 1,000,000 round under perf.
    const mean = new Float32Array(Buffer.allocUnsafeSlow(n * 4).buffer, 0, n);
    const step = onPiece ? MEAN_PIECE : n;
    for (let from = 0; from < n; from += step) {
      const to = Math.min(n, from + step);
      // The same float64 operations as a fold, then the division; the sum is not written back (8 MB less at d = 1,000,000).
      if (!waiting) divide(mean, sum, total, from, to);
      else if (folded) foldDivide(mean, sum, waiting.weights, waiting.weight, total, from, to);
      else firstDivide(mean, waiting.weights, waiting.weight, total, from, to);
      onPiece?.(mean.subarray(from, to));
    }
    return mean;
  }
}

/** Weights of the mean per piece handed to result()'s onPiece: 256 KB of float32. */
export const MEAN_PIECE = 1 << 16;

function divide(mean: Float32Array, sum: Float64Array, total: number, from: number, to: number): void {
  for (let i = from; i < to; i++) mean[i] = sum[i] / total;
}

function foldDivide(mean: Float32Array, sum: Float64Array, weights: Float32Array, weight: number, total: number, from: number, to: number): void {
  for (let i = from; i < to; i++) mean[i] = (sum[i] + weights[i] * weight) / total;
}

function firstDivide(mean: Float32Array, weights: Float32Array, weight: number, total: number, from: number, to: number): void {
  for (let i = from; i < to; i++) mean[i] = (0 + weights[i] * weight) / total;
}
