/**
 * The finite ring secure aggregation adds in, Z_2^32, and the fixed-point
 * quantization that carries real-valued updates into it. Values live as
 * Uint32Array: assignment into one reduces modulo 2^32, so ring addition is
 * plain `+` on its elements; a sum is read back as a signed 32-bit integer.
 */
import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { endianness } from 'node:os';
import { sha256Hex } from '../codec/weights';
import { SecAggError } from './errors';

/** Words are read little-endian on every machine; where that is the native order a byte copy does it. */
const LITTLE_ENDIAN = endianness() === 'LE';

/** Sums must stay inside the signed half of the ring so that they never wrap. */
const HALF_RING = 2 ** 31 - 1;

/**
 * How a job's updates are quantized: each coordinate is clipped to
 * [-range, range] and scaled to an integer in [-levels, levels]; the integer is
 * then multiplied by the party's integer weight (1 under uniform weighting).
 */
export interface Quantization {
  range: number;
  levels: number;
  maxWeight: number;
}

/**
 * The finest quantization for which the sum of `parties` inputs, each weighted by
 * at most `maxWeight`, cannot wrap: parties × maxWeight × levels ≤ 2^31 − 1
 * (with room for noise of up to `noiseBound` on the sum).
 */
export function quantizationFor(parties: number, range: number, maxWeight: number, noiseBound = 0): Quantization {
  if (!(range > 0) || !Number.isFinite(range)) throw new SecAggError('SECAGG_QUANTIZATION', `the quantization range must be a positive number, not ${range}`);
  // `noiseBound`: how far (in value units) noise added to the sum may take it, on top of the inputs.
  const levels = Math.floor(HALF_RING / (parties * maxWeight + noiseBound / range));
  if (!Number.isInteger(maxWeight) || maxWeight < 1 || levels < 1) {
    throw new SecAggError('SECAGG_QUANTIZATION', `${parties} parties weighted up to ${maxWeight} leave no room in a 32-bit ring`);
  }
  return { range, levels, maxWeight };
}

/** The integer weight a party puts on its input: its sample count, capped at maxWeight (at least 1). */
export function integerWeight(numSamples: number, q: Quantization): number {
  return Math.max(1, Math.min(q.maxWeight, Math.floor(numSamples)));
}

/**
 * The party's ring input: each clipped value stochastically rounded to a level
 * (unbiased: E[round(v)] = v), times its weight; the weight itself is appended as
 * a last coordinate, so the sum carries the total weight beside the weighted sum.
 */
export function quantize(values: ArrayLike<number>, weight: number, q: Quantization, random: () => number = uniformSource()): Uint32Array {
  if (!Number.isInteger(weight) || weight < 1 || weight > q.maxWeight) {
    throw new SecAggError('SECAGG_QUANTIZATION', `the weight ${weight} is outside 1..${q.maxWeight}`);
  }
  const out = new Uint32Array(values.length + 1);
  const scale = q.levels / q.range;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) throw new SecAggError('SECAGG_QUANTIZATION', `the value at ${i} is not finite`);
    const scaled = Math.max(-q.levels, Math.min(q.levels, Math.max(-q.range, Math.min(q.range, v)) * scale));
    const low = Math.floor(scaled);
    const level = random() < scaled - low ? low + 1 : low;
    out[i] = Math.min(q.levels, level) * weight;
  }
  out[values.length] = weight;
  return out;
}

/** Reads a ring sum back: the weighted sum of the clipped values, and the total weight. */
export function dequantize(sum: Uint32Array, q: Quantization): { weightedSum: Float64Array; weight: number } {
  const d = sum.length - 1;
  const weightedSum = new Float64Array(d);
  const unit = q.range / q.levels;
  for (let i = 0; i < d; i++) weightedSum[i] = (sum[i] | 0) * unit;
  return { weightedSum, weight: sum[d] };
}

/** The SHA-256 (hex) of a ring vector's bytes, Uint32 little-endian: how the audit names an unmasked sum. */
export const ringDigest = (v: Uint32Array): string => sha256Hex(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));

/**
 * a += b in the ring. With `width` w > 1 each run of w words is one element of
 * Z_2^(32w), least significant word first, and the carry runs through it: the
 * statistics phase sums counts and sums of squares wider than 32 bits.
 */
export function addInto(a: Uint32Array, b: Uint32Array, sign: 1 | -1 = 1, width = 1): void {
  if (a.length !== b.length) throw new SecAggError('SECAGG_WRONG_LENGTH', `a vector of ${b.length} elements where ${a.length} are expected`);
  if (width === 1) {
    if (sign === 1) for (let i = 0; i < a.length; i++) a[i] += b[i];
    else for (let i = 0; i < a.length; i++) a[i] -= b[i];
    return;
  }
  if (a.length % width !== 0) throw new SecAggError('SECAGG_WRONG_LENGTH', `a vector of ${a.length} words is not made of ${width}-word elements`);
  for (let e = 0; e < a.length; e += width) {
    // Subtraction adds the two's complement: the words inverted, plus one.
    let carry = sign === 1 ? 0 : 1;
    for (let i = e; i < e + width; i++) {
      const t = a[i] + (sign === 1 ? b[i] : ~b[i] >>> 0) + carry;
      a[i] = t;
      carry = t > 0xffffffff ? 1 : 0;
    }
  }
}

/**
 * The mask a 32-byte seed expands to: the AES-256-CTR keystream of a key HKDF
 * derives from the seed under a purpose label, read as little-endian words.
 */
export function prg(seed: Uint8Array, purpose: string, length: number): Uint32Array {
  const key = Buffer.from(hkdfSync('sha256', seed, Buffer.alloc(0), `fl-secagg prg ${purpose}`, 32));
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const stream = cipher.update(Buffer.alloc(length * 4));
  const out = new Uint32Array(length);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(stream);
  else for (let i = 0; i < length; i++) out[i] = stream.readUInt32LE(i * 4);
  return out;
}

/** Uniform numbers in [0, 1) from the system's CSPRNG, fetched in blocks (stochastic rounding needs one per coordinate). */
export function uniformSource(block = 4096): () => number {
  let words = new Uint32Array(0);
  let at = 0;
  return () => {
    if (at >= words.length) {
      const bytes = randomBytes(block * 4);
      words = new Uint32Array(bytes.buffer, bytes.byteOffset, block);
      at = 0;
    }
    return words[at++] / 2 ** 32;
  };
}
