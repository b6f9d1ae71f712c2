/**
 * A model update in and out of the ring: what a party masks (its clipped,
 * weighted difference from the global model) and what the unmasked sum makes
 * of the global model (the weighted mean difference added to it). The
 * coordinator and the audit use the same function, so they get the same bytes.
 */
import { addDiscreteGaussian, clipL2, partyNoiseLevels } from '../privacy/noise';
import { SecAggError } from './errors';
import { dequantize, integerWeight, quantizationFor, quantize, type Quantization } from './ring';

/** Noise beyond this many standard deviations is taken as impossible (probability below 10^−20) when sizing the ring. */
const NOISE_SIGMAS = 10;

/** A secure job's quantization for a round of `parties`, leaving room for its DP noise; the agents and the coordinator derive the same. */
export function secureQuantization(
  spec: { secureAggregation?: { range: number; maxWeight: number }; dp?: { noiseMultiplier: number; clipNorm: number } },
  parties: number,
): Quantization {
  const { range, maxWeight } = spec.secureAggregation!;
  const noise = spec.dp ? NOISE_SIGMAS * spec.dp.noiseMultiplier * spec.dp.clipNorm : 0;
  return quantizationFor(parties, range, maxWeight, noise);
}

/**
 * A DP job's noise, added to a party's ring input (its last word, the weight,
 * stays exact): its share of the discrete Gaussian whose sum over at least
 * `minParties` parties has σ = z·C.
 */
export function addPartyNoise(input: Uint32Array, q: Quantization, dp: { noiseMultiplier: number; clipNorm: number }, minParties: number, random?: () => number): void {
  addDiscreteGaussian(input, partyNoiseLevels(dp.noiseMultiplier, dp.clipNorm, q.levels / q.range, minParties), input.length - 1, random);
}

/** The ring input of a party whose training turned `global` into `local` on `numSamples` rows. */
export function secureInput(
  global: Float32Array,
  local: Float32Array,
  numSamples: number,
  q: Quantization,
  options: { weighting: 'samples' | 'uniform'; clipNorm?: number },
  random?: () => number,
): Uint32Array {
  if (local.length !== global.length) throw new SecAggError('SECAGG_WRONG_LENGTH', `an update of ${local.length} weights for a model of ${global.length}`);
  const delta = new Float64Array(global.length);
  for (let i = 0; i < delta.length; i++) delta[i] = local[i] - global[i];
  if (options.clipNorm !== undefined) clipL2(delta, options.clipNorm);
  return quantize(delta, options.weighting === 'uniform' ? 1 : integerWeight(numSamples, q), q, random);
}

/**
 * Why an unmasked training sum cannot be a sum of `parties` honest inputs, or
 * null: each input's coordinates lie within ±levels times its weight, its weight
 * within 1..maxWeight (exactly 1 under uniform weighting), and each party adds DP
 * noise of σ/√minParticipants, bounded at NOISE_SIGMAS deviations of the sum's.
 * Any other input would move the model by up to maxWeight times the range.
 */
export function sumOutOfRange(
  spec: { dp?: { noiseMultiplier: number; clipNorm: number }; minParticipants: number; strategy: object },
  q: Quantization,
  sum: Uint32Array,
  parties: number,
): string | null {
  const d = sum.length - 1;
  const weight = sum[d];
  const uniform = (spec.strategy as { weighting?: string }).weighting === 'uniform';
  const most = uniform ? parties : parties * q.maxWeight;
  if (weight < parties || weight > most) return `the sum carries weight ${weight}, outside ${parties}..${most} for ${parties} inputs`;
  const noise = spec.dp ? (NOISE_SIGMAS * spec.dp.noiseMultiplier * spec.dp.clipNorm * Math.sqrt(parties / spec.minParticipants) * q.levels) / q.range : 0;
  const bound = q.levels * weight + noise;
  for (let i = 0; i < d; i++) {
    const level = sum[i] | 0;
    if (Math.abs(level) > bound) return `coordinate ${i} of the sum is ${level} levels, beyond the ${Math.floor(bound)} that inputs of weight ${weight} in all can reach`;
  }
  return null;
}

/** The global model moved by the weighted mean difference the unmasked sum holds, and the sum's total weight. */
export function secureUpdate(global: Float32Array, sum: Uint32Array, q: Quantization): { weights: Float32Array; weight: number } {
  const { weightedSum, weight } = dequantize(sum, q);
  if (weightedSum.length !== global.length) throw new SecAggError('SECAGG_WRONG_LENGTH', `a sum of ${weightedSum.length} values for a model of ${global.length}`);
  if (weight < 1) throw new SecAggError('SECAGG_THRESHOLD', 'the sum carries no weight');
  const weights = new Float32Array(global.length);
  for (let i = 0; i < weights.length; i++) weights[i] = global[i] + weightedSum[i] / weight;
  return { weights, weight };
}
