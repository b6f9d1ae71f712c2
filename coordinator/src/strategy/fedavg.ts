/**
 * FedAvg (McMahan et al. 2017): the next global model is the mean of the
 * participants' models weighted by their sample counts, folded into a running
 * sum as updates arrive (WeightedAverage) and divided once the round closes.
 */
import { encodeWeights, sha256Hex, WeightedAverage } from '@fl/shared';
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
  private readonly average: WeightedAverage;
  private readonly metrics = new WeightedMetrics();

  constructor(size: number) {
    this.average = new WeightedAverage(size);
  }

  add({ weights, numSamples, metrics }: ClientUpdate): void {
    this.average.add(weights, numSamples);
    this.metrics.add(metrics, numSamples);
  }

  result(): AggregateResult | null {
    const weights = this.average.result();
    if (!weights) return null;
    return { weights, sha256: sha256Hex(encodeWeights(weights)), metrics: this.metrics.means(), numSamples: this.average.weight };
  }
}

export const fedAvg: Strategy = {
  name: 'fedavg',
  begin: (global) => new FedAvgAggregation(global.length),
};
