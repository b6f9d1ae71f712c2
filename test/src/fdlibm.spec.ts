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
import { fdlibmCos, fdlibmLog, seededGaussians } from '@fl/shared';
import { bitsOf, cosInputs, differences, logInputs, NOISE_PAIRS, noiseWords, TWO32 } from './noise-inputs';

// V8 11.3 (Node 20) computes Math.log and Math.cos with fdlibm; later versions may hand them to another library.
const V8_FDLIBM = /^11\.3\./.test(process.versions.v8);
/** SHA-256 of Node 20's Math.log and Math.cos on the inputs below, as little-endian doubles (NaN as 0x7ff8000000000000). */
const NODE20_DIGEST = 'ce914d69e79af4205a3acd8217d01aa3564274448c783be1110b197d7aabf400';

const words = noiseWords();
const pairs = words.length / 2;
const logs = Float64Array.from([...Array.from({ length: pairs }, (_, i) => (words[2 * i] + 1) / TWO32), ...logInputs()]);
const cosines = Float64Array.from([...Array.from({ length: pairs }, (_, i) => 2 * Math.PI * (words[2 * i + 1] / TWO32)), ...cosInputs()]);

function digest(...results: Float64Array[]): string {
  const hash = createHash('sha256');
  for (const values of results) {
    const view = new DataView(new ArrayBuffer(8 * values.length));
    values.forEach((v, i) => (Number.isNaN(v) ? view.setUint32(8 * i + 4, 0x7ff80000, true) : view.setFloat64(8 * i, v, true)));
    hash.update(new Uint8Array(view.buffer));
  }
  return hash.digest('hex');
}

const vector = JSON.parse(fs.readFileSync(path.join(__dirname, '../../shared/test-vectors/central-noise.json'), 'utf8')) as {
  seed: string;
  words: number[];
  gaussians: { ieee: string }[];
};
const ieee = (x: number) => bitsOf(x).toString(16).padStart(16, '0');

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
        log: differences(logs.map(Math.log), logs.map(fdlibmLog)),
        cos: differences(cosines.map(Math.cos), cosines.map(fdlibmCos)),
      };
      expect(found).toEqual({ log: [], cos: [] });
      expect(pairs).toBeGreaterThan(NOISE_PAIRS + 8_000);
      expect(digest(logs.map(Math.log), cosines.map(Math.cos))).toBe(NODE20_DIGEST);
    },
  );

  it('give on any Node the results Node 20 gives on those inputs', () => {
    expect(digest(logs.map(fdlibmLog), cosines.map(fdlibmCos))).toBe(NODE20_DIGEST);
  });

  it('refuse a cosine whose argument reduction needs more of π than they hold', () => {
    expect(() => fdlibmCos(2 ** 20 * Math.PI)).toThrow(RangeError);
    expect(() => fdlibmCos(-(2 ** 20) * Math.PI)).toThrow(RangeError);
    expect(fdlibmCos(2 ** 19 * (Math.PI / 2))).toBeCloseTo(1, 5);
  });
});
