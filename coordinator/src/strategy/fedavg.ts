/**
 * FedAvg (McMahan et al. 2017): the next global model is the mean of the
 * participants' models weighted by their sample counts. Folded as updates
 * arrive into a float64 running sum.
 */
import type { AggregateResult, ClientUpdate, RoundAggregation, Strategy } from './strategy';

export class WeightedMetrics {
  private readonly sums = new Map<string, { sum: number; weight: number }>();

  add(metrics: Record<string, number>, weight: number): void {
    for (const [name, value] of Object.entries(metrics)) {
      const entry = this.sums.get(name) ?? { sum: 0, weight: 0 };
      entry.sum += value * weight;
      entry.weight += weight;
      this.sums.set(name, entry);
    }
  }

  means(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, { sum, weight }] of this.sums) if (weight > 0) out[name] = sum / weight;
    return out;
  }
}

class FedAvgAggregation implements RoundAggregation {
  private readonly sum: Float64Array;
  private readonly metrics = new WeightedMetrics();
  private total = 0;

  constructor(size: number) {
    this.sum = new Float64Array(size);
  }

  add({ weights, numSamples, metrics }: ClientUpdate): void {
    if (weights.length !== this.sum.length) throw new Error('update size differs from the global model');
    const sum = this.sum;
    for (let i = 0; i < sum.length; i++) sum[i] += weights[i] * numSamples;
    this.total += numSamples;
    this.metrics.add(metrics, numSamples);
  }

  result(): AggregateResult | null {
    if (this.total === 0) return null;
    const weights = new Float32Array(this.sum.length);
    for (let i = 0; i < weights.length; i++) weights[i] = this.sum[i] / this.total;
    return { weights, metrics: this.metrics.means(), numSamples: this.total };
  }
}

export const fedAvg: Strategy = {
  name: 'fedavg',
  begin: (global) => new FedAvgAggregation(global.length),
};
