/**
 * The independent Python verifier draws central noise bit for bit as the
 * coordinator does: its ports of fdlibm's log and cos against the
 * coordinator's (fdlibmLog and fdlibmCos, which equal Node 20's Math.log and
 * Math.cos: shared/src/privacy/fdlibm.spec.ts) on a million word pairs of the
 * noise's form, on the edges of their ranges and on other doubles of the
 * ports' domains, and its Gaussians from a seed against seededGaussians.
 * Python's math.log and math.cos differ from them on many of the same inputs,
 * which the test counts: it could not pass with them.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { fdlibmCos, fdlibmLog, prg, seededGaussians } from '@fl/shared';
import { tempDir } from './harness';
import { PY_VERIFIER, PYTHON } from './processes';

jest.setTimeout(300_000);

const COUNT = 1_000_000;
const TWO32 = 4294967296;

// What the verifier's functions make of the inputs in the directory it is given; and on how many word pairs Python's own differ from them.
const SCRIPT = `
import json, math, struct, sys
from pathlib import Path
sys.path.insert(0, str(Path(sys.argv[1]).parent))
import verify_bundle as v
folder = Path(sys.argv[2])
def read(name, kind):
    data = (folder / name).read_bytes()
    return struct.unpack(f'<{len(data) // struct.calcsize(kind)}{kind}', data)
def write(name, values):
    (folder / name).write_bytes(struct.pack(f'<{len(values)}d', *values))
words = read('words.u32', 'I')
u1 = [(w + 1) / 4294967296 for w in words[0::2]]
u2 = [w / 4294967296 for w in words[1::2]]
logs = [v.js_log(u) for u in u1]
cosines = [v.js_cos(2 * math.pi * u) for u in u2]
write('log.f64', logs)
write('cos.f64', cosines)
write('gaussian.f64', [v.box_muller(a, b) for a, b in zip(words[0::2], words[1::2])])
write('seeded.f64', v.seeded_gaussians((folder / 'seed').read_bytes(), int(sys.argv[3])))
write('log-any.f64', [v.js_log(x) for x in read('log-any.in', 'd')])
write('cos-any.f64', [v.js_cos(x) for x in read('cos-any.in', 'd')])
print(json.dumps({'log': sum(math.log(u) != y for u, y in zip(u1, logs)), 'cos': sum(math.cos(2 * math.pi * u) != y for u, y in zip(u2, cosines))}))
`;

const bitsOf = (x: number) => {
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

/** Uniform 32-bit words from a fixed seed, so a failure can be replayed. */
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

/** Other doubles of js_log's domain: across every exponent, subnormals, zeros, the infinities and NaN, near 1 and powers of two. */
function logInputs(): number[] {
  const random = wordsFrom(0x10, 400_000);
  const xs = [0, -0, 5e-324, 2.2250738585072014e-308, 2.225073858507201e-308, 1, 2, 0.5, Infinity, -Infinity, NaN, -1, -5e-324, Number.MAX_VALUE];
  for (let i = 0; i < random.length; i += 2) xs.push(doubleOf(random[i] & 0x7fffffff, random[i + 1]));
  for (let k = -1074; k <= 1023; k++) xs.push(...around(2 ** k, 2));
  xs.push(...around(1, 5000), ...around(Math.SQRT1_2, 100), ...around(Math.SQRT2, 100));
  return xs;
}

/** Other doubles of js_cos's domain: [0, 2π) at full precision, near multiples of π/4 and at the high words where its argument reduction branches, both signs, up to 2^19·π/2. */
function cosInputs(): number[] {
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
function differences(expected: Float64Array, actual: Float64Array): number[] {
  expect(actual.length).toBe(expected.length);
  const out: number[] = [];
  for (let i = 0; i < expected.length && out.length < 5; i++) {
    if (bitsOf(expected[i]) !== bitsOf(actual[i]) && !(Number.isNaN(expected[i]) && Number.isNaN(actual[i]))) out.push(i);
  }
  return out;
}

describe("the Python verifier's log and cos", () => {
  it("draw the noise bit for bit as the coordinator does: a million word pairs, the edges of their ranges, other doubles of the ports' domains, and a seed's Gaussians", async () => {
    const dir = tempDir('py-noise');
    const seed = Uint8Array.from({ length: 32 }, (_, i) => 0xc0 + i);
    const words = new Uint32Array([...prg(seed, 'dp-noise', 2 * COUNT), ...edgePairs()]);
    const logAny = Float64Array.from(logInputs());
    const cosAny = Float64Array.from(cosInputs());
    fs.writeFileSync(path.join(dir, 'words.u32'), words);
    fs.writeFileSync(path.join(dir, 'seed'), seed);
    fs.writeFileSync(path.join(dir, 'log-any.in'), logAny);
    fs.writeFileSync(path.join(dir, 'cos-any.in'), cosAny);

    const { stdout } = await promisify(execFile)(PYTHON, ['-c', SCRIPT, PY_VERIFIER, dir, String(COUNT)], { maxBuffer: 1 << 20 });
    const read = (name: string) => {
      const bytes = fs.readFileSync(path.join(dir, name));
      return new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8);
    };

    const pairs = words.length / 2;
    const log = new Float64Array(pairs);
    const cos = new Float64Array(pairs);
    const gaussian = new Float64Array(pairs);
    for (let i = 0; i < pairs; i++) {
      log[i] = fdlibmLog((words[2 * i] + 1) / TWO32);
      cos[i] = fdlibmCos(2 * Math.PI * (words[2 * i + 1] / TWO32));
      gaussian[i] = Math.sqrt(-2 * log[i]) * cos[i];
    }
    const seeded = seededGaussians(seed, COUNT);
    const found = {
      // the noise's own words come first, the edges after them
      formula: differences(seeded, gaussian.subarray(0, COUNT)),
      log: differences(log, read('log.f64')),
      cos: differences(cos, read('cos.f64')),
      gaussian: differences(gaussian, read('gaussian.f64')),
      seeded: differences(seeded, read('seeded.f64')),
      logAny: differences(logAny.map(fdlibmLog), read('log-any.f64')),
      cosAny: differences(cosAny.map(fdlibmCos), read('cos-any.f64')),
    };
    expect(found).toEqual({ formula: [], log: [], cos: [], gaussian: [], seeded: [], logAny: [], cosAny: [] });
    expect(pairs).toBeGreaterThan(COUNT + 10_000);
    expect(logAny.length).toBeGreaterThan(200_000);
    expect(cosAny.length).toBeGreaterThan(400_000);

    // Python's own functions round otherwise on many of these inputs: the ports are what makes the noise match.
    const libm = JSON.parse(stdout) as { log: number; cos: number };
    expect(libm.log).toBeGreaterThan(0);
    expect(libm.cos).toBeGreaterThan(0);
  });
});
