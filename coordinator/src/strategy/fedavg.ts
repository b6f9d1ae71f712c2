/**
 * FedAvg (McMahan et al. 2017): the next global model is the mean of the
 * participants' models weighted by their sample counts. Folded as updates
 * arrive into a float64 running sum.
 */
import { DigestWorker, encodeWeights, WeightedAverage } from '@fl/shared';
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

/**
 * Running sums of rounds that have ended, by size, for the next rounds: a
 * 1,000,000-weight model's is 8 MB, and allocating one a round made the
 * collector run more often (it runs after so many bytes of buffers).
 */
const spareSums = new Map<number, Float64Array[]>();
const SPARE_SUMS = 4;

function spareSum(size: number): Float64Array | undefined {
  return spareSums.get(size)?.pop();
}

function returnSum(sum: Float64Array): void {
  const spares = spareSums.get(sum.length) ?? [];
  const kept = [...spareSums.values()].reduce((n, list) => n + list.length, 0);
  if (kept >= SPARE_SUMS) return;
  spares.push(sum);
  spareSums.set(sum.length, spares);
}

/**
 * The new models' digests: a large model's is hashed on another thread while its
 * mean is written (see DigestWorker), one process-wide thread for every job.
 */
const digests = new DigestWorker();

class FedAvgAggregation implements RoundAggregation {
  private readonly average: WeightedAverage;
  private readonly metrics = new WeightedMetrics();
  private ended: { result: AggregateResult | null } | undefined;

  constructor(size: number) {
    this.average = new WeightedAverage(size, spareSum(size));
  }

  add({ weights, numSamples, metrics }: ClientUpdate): void {
    if (this.ended) throw new Error('an update after the aggregate was taken');
    this.average.add(weights, numSamples);
    this.metrics.add(metrics, numSamples);
  }

  result(): AggregateResult | null {
    if (!this.ended) {
      // Begun only when there is a mean: a sink begun must be fed every byte.
      const sink = this.average.weight > 0 ? digests.begin(this.average.size * 4) : undefined;
      const weights = this.average.result(sink && ((piece) => sink.push(encodeWeights(piece))));
      const result = weights && sink && { weights, sha256: sink.digest(), metrics: this.metrics.means(), numSamples: this.average.weight };
      this.ended = { result: result || null };
      // Taken once: the sum is free for another round from here on.
      returnSum(this.average.buffer);
    }
    return this.ended.result;
  }
}

export const fedAvg: Strategy = {
  name: 'fedavg',
  begin: (global) => new FedAvgAggregation(global.length),
};
