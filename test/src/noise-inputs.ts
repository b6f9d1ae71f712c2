/**
 * The inputs central noise's log and cos are checked on, in the port's spec
 * and against the Python verifier: word pairs of the noise's form (a million
 * from the PRG, then the edges of their ranges) and other doubles of each
 * function's domain, all from fixed seeds so that a failure can be replayed.
 */
import { prg } from '@fl/shared';

export const TWO32 = 4294967296;
/** Word pairs drawn from the PRG, as the noise draws them. */
export const NOISE_PAIRS = 1_000_000;
export const NOISE_SEED = Uint8Array.from({ length: 32 }, (_, i) => 0xc0 + i);

export const bitsOf = (x: number) => {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  return view.getBigUint64(0);
};
const fromBits = (bits: bigint) => {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt.asUintN(64, bits));
  return view.getFloat64(0);
};
const doubleOf = (high: number, low: number) => fromBits((BigInt(high >>> 0) << 32n) | BigInt(low >>> 0));
/** x and its neighbours up to `ulps` steps either side. */
const around = (x: number, ulps: number) => Array.from({ length: 2 * ulps + 1 }, (_, i) => fromBits(bitsOf(x) + BigInt(i - ulps)));
const wordsFrom = (tag: number, count: number) => prg(Uint8Array.from({ length: 32 }, (_, i) => tag + i), 'test', count);

/** Word pairs at the edges of u1's range (2^-32, 1, powers of two, near 1) and of u2's (0, 1/4, 1/2, 3/4, near each multiple of 1/8, where 2πu2 is near a multiple of π/4). */
function edgePairs(): number[] {
  const first = [0, 1, 2, 0xffffffff, 0xfffffffe];
  for (let k = 1; k <= 32; k++) for (let j = -3; j <= 3; j++) first.push(Math.min(Math.max(2 ** k - 1 + j, 0), 0xffffffff));
  for (let j = 0; j < 4096; j++) first.push(0xffffffff - j); // u1 within 2^-20 of 1
  for (let k = 0; k < 4096; k++) first.push(k * 2 ** 20, k * 2 ** 20 + 0xfffff); // every leading 12-bit pattern
  const second = [0, 2 ** 30, 2 ** 31, 3 * 2 ** 30, 0xffffffff];
  for (let k = 0; k <= 8; k++) for (let j = -512; j <= 512; j++) if (k * 2 ** 29 + j >= 0 && k * 2 ** 29 + j < TWO32) second.push(k * 2 ** 29 + j);
  const pairs: number[] = [];
  for (let i = 0; i < Math.max(first.length, second.length); i++) pairs.push(first[i % first.length], second[i % second.length]);
  // Each edge of one word with the other at its own edges.
  for (const a of [0, 0xffffffff, 2 ** 31 - 1]) for (const b of second) pairs.push(a, b);
  return pairs;
}

/** The noise's word pairs: NOISE_PAIRS from the PRG under NOISE_SEED, as seededGaussians draws them, then the edges. */
export function noiseWords(): Uint32Array {
  return new Uint32Array([...prg(NOISE_SEED, 'dp-noise', 2 * NOISE_PAIRS), ...edgePairs()]);
}

/** Other doubles of log's domain: across every exponent, subnormals, zeros, the infinities and NaN, near 1 and powers of two. */
export function logInputs(): number[] {
  const random = wordsFrom(0x10, 400_000);
  const xs = [0, -0, 5e-324, 2.2250738585072014e-308, 2.225073858507201e-308, 1, 2, 0.5, Infinity, -Infinity, NaN, -1, -5e-324, Number.MAX_VALUE];
  for (let i = 0; i < random.length; i += 2) xs.push(doubleOf(random[i] & 0x7fffffff, random[i + 1]));
  for (let k = -1074; k <= 1023; k++) xs.push(...around(2 ** k, 2));
  xs.push(...around(1, 5000), ...around(Math.SQRT1_2, 100), ...around(Math.SQRT2, 100));
  return xs;
}

/** Other doubles of cos's domain: [0, 2π) at full precision, near multiples of π/4 and at the high words where its argument reduction branches, both signs, up to 2^19·π/2. */
export function cosInputs(): number[] {
  const random = wordsFrom(0x20, 600_000);
  const xs = [0, -0, 5e-324, 2 ** -27, 2 ** -28, Infinity, -Infinity, NaN, 2 ** 19 * (Math.PI / 2)];
  for (let i = 0; i < 200_000; i += 2) xs.push(2 * Math.PI * ((random[i] * TWO32 + random[i + 1]) / 2 ** 64));
  for (let i = 200_000; i < 300_000; i += 2) xs.push((random[i] / TWO32 - 0.5) * 2 ** 20 * (Math.PI / 2) * (random[i + 1] / TWO32));
  for (let k = 1; k <= 64; k++) for (const x of around(k * (Math.PI / 4), 1000)) xs.push(x, -x);
  const thresholds = [0x3e400000, 0x3fd33333, 0x3fe90000, 0x3fe921fb, 0x4002d97c];
  for (let n = 1; n <= 32; n++) thresholds.push(Number(bitsOf(n * (Math.PI / 2)) >> 32n)); // where n·π/2 is
  for (const high of thresholds)
    for (let i = 300_000; i < 300_000 + 2 * 1000; i += 2) {
      const low = random[i + 1];
      for (const h of [high - 1, high, high + 1]) xs.push(doubleOf(h, low), -doubleOf(h, low));
    }
  return xs;
}

/** Where two arrays of doubles differ in any bit (NaN against NaN aside): their indices, at most 5. */
export function differences(expected: ArrayLike<number>, actual: ArrayLike<number>): number[] {
  if (actual.length !== expected.length) throw new Error(`${actual.length} results where ${expected.length} are expected`);
  const out: number[] = [];
  for (let i = 0; i < expected.length && out.length < 5; i++) {
    if (bitsOf(expected[i]) !== bitsOf(actual[i]) && !(Number.isNaN(expected[i]) && Number.isNaN(actual[i]))) out.push(i);
  }
  return out;
}
