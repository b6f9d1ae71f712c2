/**
 * The sample-weighted mean of models, FedAvg's arithmetic (McMahan et al.
 * 2017): each model is folded into a float64 running sum as it arrives, so
 * memory does not grow with the number of participants, and the sum is divided
 * by the total weight at the end. The coordinator aggregates with it and the
 * audit verifier recomputes with it: folded in the same order, the same bits.
 */
export class WeightedAverage {
  private readonly sum: Float64Array;
  private total = 0;

  constructor(readonly size: number) {
    this.sum = new Float64Array(size);
  }

  /** The sum of the weights so far. */
  get weight(): number {
    return this.total;
  }

  /** Float32 updates, or float64 ones a strategy derived from them (e.g. clipped). */
  add(weights: ArrayLike<number>, weight: number): void {
    if (weights.length !== this.sum.length) throw new Error('update size differs from the global model');
    const { sum } = this;
    for (let i = 0; i < sum.length; i++) sum[i] += weights[i] * weight;
    this.total += weight;
  }

  /** The mean in float64, for a strategy that steps from it; null when nothing was added. */
  mean(): Float64Array | null {
    const { sum, total } = this;
    if (total === 0) return null;
    const mean = new Float64Array(sum.length);
    for (let i = 0; i < sum.length; i++) mean[i] = sum[i] / total;
    return mean;
  }

  /** The mean as float32, or null when nothing was added. */
  result(): Float32Array | null {
    const { sum, total } = this;
    if (total === 0) return null;
    const mean = new Float32Array(sum.length);
    for (let i = 0; i < sum.length; i++) mean[i] = sum[i] / total;
    return mean;
  }
}
