/**
 * Central noise has the same bits on every Node: the port of fdlibm's log and
 * cos draws the test vector's Gaussians; on Node 20, whose V8 computes
 * Math.log and Math.cos with the same fdlibm functions, it equals them on a
 * million word pairs of the noise's form, the edges of their ranges and other
 * doubles of its domain; and on any Node it gives those inputs the results
 * Node 20 gives (their SHA-256), so a newer V8's libm cannot move the noise.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { prg } from '../secagg/ring';
import { seededGaussians } from './central';
import { fdlibmCos, fdlibmLog } from './fdlibm';

const TWO32 = 4294967296;
const PAIRS = 1_000_000;
// V8 11.3 (Node 20) computes Math.log and Math.cos with fdlibm; later versions may hand them to another library.
const V8_FDLIBM = /^11\.3\./.test(process.versions.v8);
/** SHA-256 of Node 20's Math.log and Math.cos on the inputs below, as little-endian doubles (NaN as 0x7ff8000000000000). */
const NODE20_DIGEST = '467ea949df8cd2cfa37c2a37174bfdba6bc90dc93f9f9cd0acfa2e562be16df4';

const bits = new DataView(new ArrayBuffer(8));
const doubleOf = (high: number, low: number) => {
  bits.setUint32(0, high >>> 0);
  bits.setUint32(4, low >>> 0);
  return bits.getFloat64(0);
};
const wordsOf = (x: number) => {
  bits.setFloat64(0, x);
  return [bits.getUint32(0), bits.getUint32(4)];
};
/** x and its neighbours up to `ulps` steps either side (for positive finite x). */
const around = (x: number, ulps: number) => {
  const [high, low] = wordsOf(x);
  return Array.from({ length: 2 * ulps + 1 }, (_, i) => {
    const l = low + i - ulps;
    return doubleOf(high + Math.floor(l / TWO32), l);
  });
};
/** Uniform words from a fixed seed, so a failure can be replayed. */
const wordsFrom = (tag: number, count: number) => prg(Uint8Array.from({ length: 32 }, (_, i) => tag + i), 'test', count);

/** Word pairs of the noise: a million from the PRG, then the edges of u1's range (2^-32, 1, powers of two, within 2^-20 of 1, every leading 12 bits) and of u2's (0, ¼, ½, ¾, near each multiple of 1/8, where 2π·u2 is near a multiple of π/4). */
function noisePairs(): Uint32Array {
  const first = [0, 1, 2, 0xffffffff, 0xfffffffe];
  for (let k = 1; k <= 32; k++) for (let j = -3; j <= 3; j++) first.push(Math.min(Math.max(2 ** k - 1 + j, 0), 0xffffffff));
  for (let j = 0; j < 4096; j++) first.push(0xffffffff - j);
  for (let k = 0; k < 4096; k++) first.push(k * 2 ** 20, k * 2 ** 20 + 0xfffff);
  const second = [0, 2 ** 30, 2 ** 31, 3 * 2 ** 30, 0xffffffff];
  for (let k = 0; k <= 8; k++) for (let j = -512; j <= 512; j++) if (k * 2 ** 29 + j >= 0 && k * 2 ** 29 + j < TWO32) second.push(k * 2 ** 29 + j);
  const edges: number[] = [];
  for (let i = 0; i < Math.max(first.length, second.length); i++) edges.push(first[i % first.length], second[i % second.length]);
  const noise = prg(Uint8Array.from({ length: 32 }, (_, i) => 0xc0 + i), 'dp-noise', 2 * PAIRS);
  return Uint32Array.from([...noise, ...edges]);
}

/** Other doubles of fdlibmLog's domain: every exponent, subnormals, zeros, negatives, the infinities and NaN, near 1, √½ and √2. */
function otherLogInputs(): number[] {
  const random = wordsFrom(0x10, 200_000);
  const xs = [0, -0, 5e-324, 2.2250738585072014e-308, 2.225073858507201e-308, Infinity, -Infinity, NaN, -1, -5e-324, Number.MAX_VALUE];
  for (let i = 0; i < random.length; i += 2) xs.push(doubleOf(random[i] & 0x7fffffff, random[i + 1]));
  for (let k = -1074; k <= 1023; k++) xs.push(...around(2 ** k, 2));
  xs.push(...around(1, 5000), ...around(Math.SQRT1_2, 100), ...around(Math.SQRT2, 100));
  return xs;
}

/** Other doubles of fdlibmCos's domain: [0, 2π) at full precision, both signs up to 2^19·π/2, near multiples of π/4 and at each high word where the argument reduction branches. */
function otherCosInputs(): number[] {
  const random = wordsFrom(0x20, 300_000);
  const xs = [0, -0, 5e-324, 2 ** -27, 2 ** -28, Infinity, -Infinity, NaN, 2 ** 19 * (Math.PI / 2)];
  for (let i = 0; i < 100_000; i += 2) xs.push(2 * Math.PI * ((random[i] * TWO32 + random[i + 1]) / 2 ** 64));
  for (let i = 100_000; i < 200_000; i += 2) xs.push((random[i] / TWO32 - 0.5) * 2 ** 20 * (Math.PI / 2) * (random[i + 1] / TWO32));
  for (let k = 1; k <= 64; k++) for (const x of around(k * (Math.PI / 4), 200)) xs.push(x, -x);
  const highs = [0x3e400000, 0x3fd33333, 0x3fe90000, 0x3fe921fb, 0x4002d97c];
  for (let n = 1; n <= 32; n++) highs.push(wordsOf(n * (Math.PI / 2))[0]);
  for (const high of highs)
    for (let i = 200_000; i < 200_400; i++) for (const h of [high - 1, high, high + 1]) xs.push(doubleOf(h, random[i]), -doubleOf(h, random[i]));
  return xs;
}

const pairs = noisePairs();
const logInputs = Float64Array.from([...Array.from({ length: pairs.length / 2 }, (_, i) => (pairs[2 * i] + 1) / TWO32), ...otherLogInputs()]);
const cosInputs = Float64Array.from([...Array.from({ length: pairs.length / 2 }, (_, i) => 2 * Math.PI * (pairs[2 * i + 1] / TWO32)), ...otherCosInputs()]);

/** The indices (at most 5) where two arrays of doubles differ in any bit, NaN against NaN aside. */
function differences(expected: Float64Array, actual: Float64Array): number[] {
  const e = new Uint32Array(expected.buffer);
  const a = new Uint32Array(actual.buffer);
  const out: number[] = [];
  for (let i = 0; i < expected.length && out.length < 5; i++) {
    const same = e[2 * i] === a[2 * i] && e[2 * i + 1] === a[2 * i + 1];
    if (!same && !(Number.isNaN(expected[i]) && Number.isNaN(actual[i]))) out.push(i);
  }
  return out;
}

function digest(...results: Float64Array[]): string {
  const hash = createHash('sha256');
  for (const values of results) {
    const view = new DataView(new ArrayBuffer(8 * values.length));
    values.forEach((v, i) => (Number.isNaN(v) ? view.setUint32(8 * i + 4, 0x7ff80000, true) : view.setFloat64(8 * i, v, true)));
    hash.update(new Uint8Array(view.buffer));
  }
  return hash.digest('hex');
}

const vector = JSON.parse(fs.readFileSync(path.join(__dirname, '../../test-vectors/central-noise.json'), 'utf8')) as {
  seed: string;
  words: number[];
  gaussians: { ieee: string }[];
};
const ieee = (x: number) => wordsOf(x).map((w) => w.toString(16).padStart(8, '0')).join('');

describe("fdlibm's log and cos", () => {
  it("draw the central-noise test vector's Gaussians, bit for bit, from its words", () => {
    const drawn = vector.gaussians.map((_, i) => {
      const u1 = (vector.words[2 * i] + 1) / TWO32;
      const u2 = vector.words[2 * i + 1] / TWO32;
      return ieee(Math.sqrt(-2 * fdlibmLog(u1)) * fdlibmCos(2 * Math.PI * u2));
    });
    expect(drawn).toEqual(vector.gaussians.map((g) => g.ieee));
  });

  it("make seededGaussians draw the test vector whatever the engine's Math.log and Math.cos round to", () => {
    // An engine whose log and cos round otherwise, as a newer V8 may: each result one step off.
    const { log, cos } = Math;
    const spies = [jest.spyOn(Math, 'log').mockImplementation((x) => log(x) * (1 + Number.EPSILON)), jest.spyOn(Math, 'cos').mockImplementation((x) => cos(x) * (1 + Number.EPSILON))];
    try {
      expect(Math.cos(1)).not.toBe(cos(1));
      const drawn = seededGaussians(Buffer.from(vector.seed, 'hex'), vector.gaussians.length);
      expect([...drawn].map(ieee)).toEqual(vector.gaussians.map((g) => g.ieee));
    } finally {
      spies.forEach((spy) => spy.mockRestore());
    }
  });

  (V8_FDLIBM ? it : it.skip)(
    "equal Node 20's Math.log and Math.cos, bit for bit, on a million word pairs of the noise's form, their edges and other doubles of their domain",
    () => {
      const found = {
        log: differences(logInputs.map(Math.log), logInputs.map(fdlibmLog)),
        cos: differences(cosInputs.map(Math.cos), cosInputs.map(fdlibmCos)),
      };
      expect(found).toEqual({ log: [], cos: [] });
      expect(pairs.length / 2).toBeGreaterThan(PAIRS + 8_000);
      expect(digest(logInputs.map(Math.log), cosInputs.map(Math.cos))).toBe(NODE20_DIGEST);
    },
  );

  it('give on any Node the results Node 20 gives on those inputs', () => {
    expect(digest(logInputs.map(fdlibmLog), cosInputs.map(fdlibmCos))).toBe(NODE20_DIGEST);
  });

  it('refuse a cosine whose argument reduction needs more of π than they hold', () => {
    expect(() => fdlibmCos(2 ** 20 * Math.PI)).toThrow(RangeError);
    expect(() => fdlibmCos(-(2 ** 20) * Math.PI)).toThrow(RangeError);
    expect(fdlibmCos(2 ** 19 * (Math.PI / 2))).toBeCloseTo(1, 5);
  });
});
