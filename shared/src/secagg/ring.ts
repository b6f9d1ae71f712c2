/**
 * The finite ring secure aggregation adds in, Z_2^32, and the fixed-point
 * quantization that carries real-valued updates into it. Values live as
 * Uint32Array: assignment into one reduces modulo 2^32, so ring addition is
 * plain `+` on its elements; a sum is read back as a signed 32-bit integer.
 */
import { createCipheriv, hkdfSync, randomFillSync } from 'node:crypto';
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
export function quantize(values: ArrayLike<number>, weight: number, q: Quantization, random?: () => number): Uint32Array {
  if (!Number.isInteger(weight) || weight < 1 || weight > q.maxWeight) {
    throw new SecAggError('SECAGG_QUANTIZATION', `the weight ${weight} is outside 1..${q.maxWeight}`);
  }
  const out = new Uint32Array(values.length + 1);
  const scale = q.levels / q.range;
  // Without a source given, the CSPRNG's words for every coordinate in one call: a call per coordinate cost a third of the loop.
  const words = random ? undefined : randomFillSync(new Uint32Array(values.length));
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) throw new SecAggError('SECAGG_QUANTIZATION', `the value at ${i} is not finite`);
    const scaled = Math.max(-q.levels, Math.min(q.levels, Math.max(-q.range, Math.min(q.range, v)) * scale));
    const low = Math.floor(scaled);
    const uniform = words ? words[i] / 2 ** 32 : random!();
    const level = uniform < scaled - low ? low + 1 : low;
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

/** The AES-256-CTR cipher whose keystream is the mask of `seed` under `purpose`: its key HKDF derives from the seed. */
function prgCipher(seed: Uint8Array, purpose: string) {
  const key = Buffer.from(hkdfSync('sha256', seed, Buffer.alloc(0), `fl-secagg prg ${purpose}`, 32));
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
}

/** The keystream's bytes as little-endian words, in place where the machine's order and the buffer's alignment allow. */
function wordsOf(stream: Buffer, length: number): Uint32Array {
  if (LITTLE_ENDIAN && stream.byteOffset % 4 === 0) return new Uint32Array(stream.buffer, stream.byteOffset, length);
  const out = new Uint32Array(length);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(stream.subarray(0, length * 4));
  else for (let i = 0; i < length; i++) out[i] = stream.readUInt32LE(i * 4);
  return out;
}

/**
 * The mask a 32-byte seed expands to: the AES-256-CTR keystream of a key HKDF
 * derives from the seed under a purpose label, read as little-endian words.
 */
export function prg(seed: Uint8Array, purpose: string, length: number): Uint32Array {
  return wordsOf(prgCipher(seed, purpose).update(zeros(length * 4)), length);
}

/** One mask to add: PRG(seed) under `purpose`, added (1) or taken off (−1). */
export interface Mask {
  seed: Uint8Array;
  purpose: string;
  sign: 1 | -1;
}

/**
 * Words of keystream per piece when masks are added: 64 KiB, so that a piece of
 * the vector and of each keystream stay in the core's cache while every mask is
 * added to it, rather than each mask streaming the whole vector through memory.
 */
const MASK_PIECE_WORDS = 16_384;

/**
 * out += Σ sign·PRG(seed) in the ring, the same words as addInto(out, prg(...))
 * for each mask (CTR mode continues its keystream across pieces), without a
 * whole-vector keystream per mask: at d = 100,000 and 11 masks that was 4.4 MB
 * allocated per masked input.
 */
export function addMasks(out: Uint32Array, masks: readonly Mask[], width = 1): void {
  if (width !== 1) {
    // Elements wider than a word carry across words (addInto): the statistics vectors, which are small.
    for (const m of masks) addInto(out, prg(m.seed, m.purpose, out.length), m.sign, width);
    return;
  }
  const ciphers = masks.map((m) => ({ cipher: prgCipher(m.seed, m.purpose), sign: m.sign }));
  for (let start = 0; start < out.length; start += MASK_PIECE_WORDS) {
    const length = Math.min(MASK_PIECE_WORDS, out.length - start);
    const piece = out.subarray(start, start + length);
    const bytes = zeros(length * 4);
    for (const { cipher, sign } of ciphers) addInto(piece, wordsOf(cipher.update(bytes), length), sign);
  }
}

/** Zero bytes to encrypt into a keystream, kept between masks since the cipher only reads them. */
let zeroBytes = Buffer.alloc(0);
function zeros(bytes: number): Buffer {
  if (zeroBytes.length < bytes) zeroBytes = Buffer.alloc(bytes);
  return zeroBytes.subarray(0, bytes);
}
