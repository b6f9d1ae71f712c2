/**
 * The independent Python verifier draws central noise bit for bit as the
 * coordinator does: its ports of fdlibm's log and cos against the
 * coordinator's (fdlibmLog and fdlibmCos, which equal Node 20's Math.log and
 * Math.cos: test/src/fdlibm.spec.ts) on a million word pairs of the
 * noise's form, on the edges of their ranges and on other doubles of the
 * ports' domains, and its Gaussians from a seed against seededGaussians.
 * Python's math.log and math.cos differ from them on many of the same inputs,
 * which the test counts: it could not pass with them.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { fdlibmCos, fdlibmLog, seededGaussians } from '@fl/shared';
import { tempDir } from './harness';
import { cosInputs, differences, logInputs, NOISE_PAIRS as COUNT, NOISE_SEED, noiseWords, TWO32 } from './noise-inputs';
import { PY_VERIFIER, PYTHON } from './processes';

jest.setTimeout(300_000);

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

describe("the Python verifier's log and cos", () => {
  it("draw the noise bit for bit as the coordinator does: a million word pairs, the edges of their ranges, other doubles of the ports' domains, and a seed's Gaussians", async () => {
    const dir = tempDir('py-noise');
    const seed = NOISE_SEED;
    const words = noiseWords();
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
