/**
 * Central differential privacy, for jobs without secure aggregation: the
 * coordinator clips each site's update (its difference from the global model)
 * to L2 norm C, sums them, adds Gaussian noise N(0, (z·C)²) to every
 * coordinate of the sum, and moves the global model by the noisy mean. The
 * noise is drawn from a fresh 32-byte seed through the secure-aggregation PRG,
 * so `audit verify` recomputes the round from the retained updates and the
 * seed; the coordinator and the audit call this one function.
 */
import { prg } from '../secagg/ring';
import { fdlibmCos, fdlibmLog } from './fdlibm';
import { clipL2 } from './noise';

/**
 * The participant name under which a round's noise seed is kept beside its
 * retained updates: never a site's name (those start with a letter or digit),
 * so no site's audit export carries it.
 */
export const CENTRAL_NOISE = ':central-noise';

/**
 * Standard normal numbers from a seed, by Box–Muller over the PRG's 32-bit
 * words, with fdlibm's log and cos rather than the engine's, whose last bits
 * vary between Node versions.
 */
export function seededGaussians(seed: Uint8Array, count: number): Float64Array {
  const words = prg(seed, 'dp-noise', 2 * count);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    // (0, 1]: the logarithm stays finite.
    const u1 = (words[2 * i] + 1) / 4294967296;
    const u2 = words[2 * i + 1] / 4294967296;
    out[i] = Math.sqrt(-2 * fdlibmLog(u1)) * fdlibmCos(2 * Math.PI * u2);
  }
  return out;
}

/**
 * The global model moved by the noisy mean of the clipped updates, and the
 * count that mean is over (the strategy takes it as the round's one update).
 */
export function centralUpdate(
  global: Float32Array,
  updates: readonly Float32Array[],
  dp: { noiseMultiplier: number; clipNorm: number },
  seed: Uint8Array,
): { weights: Float32Array; weight: number } {
  const d = global.length;
  const sum = new Float64Array(d);
  const delta = new Float64Array(d);
  for (const update of updates) {
    if (update.length !== d) throw new Error(`an update of ${update.length} weights for a model of ${d}`);
    for (let i = 0; i < d; i++) delta[i] = update[i] - global[i];
    clipL2(delta, dp.clipNorm);
    for (let i = 0; i < d; i++) sum[i] += delta[i];
  }
  const sigma = dp.noiseMultiplier * dp.clipNorm;
  const noise = seededGaussians(seed, d);
  const n = updates.length;
  const weights = new Float32Array(d);
  for (let i = 0; i < d; i++) weights[i] = global[i] + (sum[i] + sigma * noise[i]) / n;
  return { weights, weight: n };
}
