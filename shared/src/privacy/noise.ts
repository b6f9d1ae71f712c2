/**
 * Clipping and noise for differential privacy. Under secure aggregation each
 * party adds discrete Gaussian noise to its integer input (Kairouz, Liu and
 * Steinke 2021), so no one sees an un-noised sum; without it the coordinator
 * adds continuous Gaussian noise to the sum (central noise).
 */
import { randomBytes } from 'node:crypto';

/** Uniform numbers in [0, 1) from the system's CSPRNG (53 bits each). */
export function secureUniform(): () => number {
  let buffer = Buffer.alloc(0);
  let at = 0;
  return () => {
    if (at + 8 > buffer.length) {
      buffer = randomBytes(8 * 1024);
      at = 0;
    }
    const high = buffer.readUInt32LE(at) >>> 5;
    const low = buffer.readUInt32LE(at + 4) >>> 6;
    at += 8;
    return (high * 67108864 + low) / 9007199254740992;
  };
}

/** Scales `values` in place to L2 norm at most `clipNorm`; returns the factor applied (1 when already inside). */
export function clipL2(values: Float32Array | Float64Array, clipNorm: number): number {
  let sq = 0;
  for (const v of values) sq += v * v;
  const norm = Math.sqrt(sq);
  if (norm <= clipNorm) return 1;
  const factor = clipNorm / norm;
  for (let i = 0; i < values.length; i++) values[i] *= factor;
  return factor;
}

const bernoulli = (p: number, random: () => number) => random() < p;

/**
 * A discrete Gaussian sample on the integers, P(x) ∝ exp(−x²/2σ²), by the
 * rejection sampler of Canonne, Kamath and Steinke 2020 (algorithm 3) from a
 * discrete Laplace proposal; its Bernoulli trials use floating point, not the
 * paper's exact rational arithmetic.
 */
export function discreteGaussian(sigma: number, random: () => number = secureUniform()): number {
  if (!(sigma > 0)) return 0;
  const t = Math.floor(sigma) + 1;
  for (;;) {
    const u = Math.floor(random() * t);
    if (!bernoulli(Math.exp(-u / t), random)) continue;
    let v = 0;
    while (bernoulli(Math.exp(-1), random)) v++;
    const x = u + t * v;
    const negative = random() < 0.5;
    if (negative && x === 0) continue;
    const y = negative ? -x : x;
    if (bernoulli(Math.exp(-((Math.abs(y) - (sigma * sigma) / t) ** 2) / (2 * sigma * sigma)), random)) return y;
  }
}

/**
 * The discrete Gaussian σ, in quantization levels, each party adds under
 * secure aggregation so that any `minParties` of them together add σ = z·C in
 * value units (variances add): the sum is as noisy as central DP needs as long
 * as the round commits with at least that many parties.
 */
export function partyNoiseLevels(noiseMultiplier: number, clipNorm: number, levelsPerUnit: number, minParties: number): number {
  return (noiseMultiplier * clipNorm * levelsPerUnit) / Math.sqrt(minParties);
}

/** Adds integer noise to a ring input in place (Uint32Array assignment wraps, as the ring does). */
export function addDiscreteGaussian(input: Uint32Array, sigmaLevels: number, count = input.length, random: () => number = secureUniform()): void {
  for (let i = 0; i < count; i++) input[i] += discreteGaussian(sigmaLevels, random);
}
