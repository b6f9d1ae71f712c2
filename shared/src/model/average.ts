/**
 * The weighted mean of models, folded in the order they come into a float64
 * running sum: FedAvg's arithmetic. The coordinator aggregates with it and the audit verifier
 * recomputes with it, so a recomputed global model is bit-identical when the
 * updates are folded in the same order.
 */

/**
 * sum += weights · scale. Eight independent lanes, loaded before they are stored,
 * let V8 keep them in registers: ~4.5 GB/s of updates against ~2.7 for the plain
 * loop on the benchmark machine (bench: aggregate.fedavg.gbPerSec).
 */
function fold(sum: Float64Array, weights: Float32Array, scale: number): void {
  const n = sum.length;
  let i = 0;
  for (; i + 7 < n; i += 8) {
    const s0 = sum[i] + weights[i] * scale;
    const s1 = sum[i + 1] + weights[i + 1] * scale;
    const s2 = sum[i + 2] + weights[i + 2] * scale;
    const s3 = sum[i + 3] + weights[i + 3] * scale;
    const s4 = sum[i + 4] + weights[i + 4] * scale;
    const s5 = sum[i + 5] + weights[i + 5] * scale;
    const s6 = sum[i + 6] + weights[i + 6] * scale;
    const s7 = sum[i + 7] + weights[i + 7] * scale;
    sum[i] = s0;
    sum[i + 1] = s1;
    sum[i + 2] = s2;
    sum[i + 3] = s3;
    sum[i + 4] = s4;
    sum[i + 5] = s5;
    sum[i + 6] = s6;
    sum[i + 7] = s7;
  }
  for (; i < n; i++) sum[i] += weights[i] * scale;
}

/**
 * sum += a · scaleA + b · scaleB, added in that order for each weight: the same
 * float64 operations as fold(a) then fold(b), so bit-identical to them, with one
 * pass over the sum instead of two. The sum (8 bytes a weight) is what a fold
 * mostly reads and writes; two updates a pass folded ~5.8 GB/s against ~4.6 on
 * the benchmark machine.
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
 * Updates are folded in pairs: one waits, unfolded, for the next (or for
 * result()), so at most one update more than with folding each at once is held.
 * The result is the same, bit for bit, as folding each in its turn.
 */
export class WeightedAverage {
  private readonly sum: Float64Array;
  private total = 0;
  private waiting: { weights: Float32Array; weight: number } | null = null;

  /** `sum`: an array of `size` to reuse (it is zeroed), e.g. the previous round's. */
  constructor(
    readonly size: number,
    sum?: Float64Array,
  ) {
    if (sum && sum.length !== size) throw new Error('the running sum to reuse differs in size');
    this.sum = sum ? sum.fill(0) : new Float64Array(size);
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
    if (weights.length !== this.sum.length) throw new Error('update size differs from the global model');
    if (this.waiting) {
      foldPair(this.sum, this.waiting.weights, this.waiting.weight, weights, weight);
      this.waiting = null;
    } else {
      this.waiting = { weights, weight };
    }
    this.total += weight;
  }

  /** The mean as float32, or null when nothing was added. */
  result(): Float32Array | null {
    if (this.waiting) {
      fold(this.sum, this.waiting.weights, this.waiting.weight);
      this.waiting = null;
    }
    if (this.total === 0) return null;
    const weights = new Float32Array(this.sum.length);
    for (let i = 0; i < weights.length; i++) weights[i] = this.sum[i] / this.total;
    return weights;
  }
}
