/**
 * A model update in and out of the ring: what a party masks (its clipped,
 * weighted difference from the global model) and what the unmasked sum makes
 * of the global model (the weighted mean difference added to it). The
 * coordinator and the audit use the same function, so they get the same bytes.
 */
import { clipL2 } from '../privacy/noise';
import { SecAggError } from './errors';
import { dequantize, integerWeight, quantize, type Quantization } from './ring';

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

/** The global model moved by the weighted mean difference the unmasked sum holds, and the sum's total weight. */
export function secureUpdate(global: Float32Array, sum: Uint32Array, q: Quantization): { weights: Float32Array; weight: number } {
  const { weightedSum, weight } = dequantize(sum, q);
  if (weightedSum.length !== global.length) throw new SecAggError('SECAGG_WRONG_LENGTH', `a sum of ${weightedSum.length} values for a model of ${global.length}`);
  if (weight < 1) throw new SecAggError('SECAGG_THRESHOLD', 'the sum carries no weight');
  const weights = new Float32Array(global.length);
  for (let i = 0; i < weights.length; i++) weights[i] = global[i] + weightedSum[i] / weight;
  return { weights, weight };
}
