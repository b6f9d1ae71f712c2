/**
 * The cost of secure aggregation's cryptography, in process: one SecAgg+ round
 * of N parties at model size d through the same steps agents and coordinator
 * run (keys, shares, masking, unmasking), without the network. `partyMs` is one
 * party's work in the round (parties work in parallel, so it adds once to a
 * round's wall time); `unmaskMs` is the coordinator's.
 */
import { generateKeyPair, quantizationFor, quantize, runLocalRound, unmaskSum } from '@fl/shared';
import { medianOf, now } from './measure';

/** Bell et al. take k = O(log N): here the smallest even number ≥ 2·log2 N, all others below 10 parties; t = k/2 + 1. */
export function neighboursFor(n: number): { neighbours: number; threshold: number } {
  const neighbours = n <= 10 ? n - 1 : 2 * Math.ceil(Math.log2(n));
  return { neighbours, threshold: Math.floor(neighbours / 2) + 1 };
}

async function secaggRound(n: number, d: number): Promise<Record<string, number>> {
  const q = quantizationFor(n, 1, 1000);
  const parties = new Map(
    Array.from({ length: n }, (_, i) => {
      const values = Float32Array.from({ length: d }, (_, j) => Math.sin(i + j) * 0.5);
      return [`p${String(i).padStart(3, '0')}`, { identity: generateKeyPair(), input: quantize(values, 100 + i, q) }];
    }),
  );
  const { neighbours, threshold } = neighboursFor(n);
  // one party in ten drops after sharing its keys, so the unmasking includes recovering them
  const dropped = [...parties.keys()].filter((_, i) => i % 10 === 9);
  let partyMs = 0;
  let unmaskMs = 0;
  await medianOf(n * d > 1e6 ? 1 : 3, async () => {
    const started = now();
    const { material } = await runLocalRound({ job: 'bench', round: 1, neighbours, threshold, parties, drop: { afterSharing: dropped } });
    const total = now() - started;
    const unmaskStarted = now();
    await unmaskSum(material);
    unmaskMs = now() - unmaskStarted;
    partyMs = (total - unmaskMs) / n;
    return total;
  }, n * d > 1e6 ? 0 : 1);
  const name = `secagg.n${n}_d${d >= 1000 ? `${d / 1000}k` : d}`;
  return { [`${name}.partyMs`]: partyMs, [`${name}.unmaskMs`]: unmaskMs };
}

export async function secaggBench(): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  for (const n of [5, 20, 100]) for (const d of [100, 100_000]) Object.assign(figures, await secaggRound(n, d));
  return figures;
}
