/**
 * Fuzzing over real sockets: while three honest agents run a job, an
 * unauthenticated client and an authenticated participant send at least 10,000
 * random and mutated frames. The coordinator process never exits, its memory
 * stays bounded, and the honest agents' final model is the same, to the bit, as
 * in a run without the fuzzer on the same seed.
 */
import * as fs from 'node:fs';
import type { Socket } from 'socket.io-client';
import { seededRandom, type JobView, type KeyPair, type TrainMessage } from '@fl/shared';
import type { ParticipantAgent } from '@fl/participant-agent';
import { connectRaw, craftUpdate, handshakeAuth } from './raw-client';
import { AdminApi, DATA_DIR, eventually, featuresOf, registerParticipant, splitCsv, startAgent, tempDir } from './harness';
import { startCoordinatorProcess, type Running } from './processes';

jest.setTimeout(300_000);

const FILE = `${DATA_DIR}/breast_cancer.csv`;
const TOKEN = 'fuzz-admin-token-0123456789';
const FRAME_LIMIT = 1024 * 1024;

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** Random values of every JSON kind, with the awkward numbers. */
function randomValue(random: () => number, depth = 0): unknown {
  const numbers = [0, -1, 1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, 0.1, -0, 1e-320];
  const pick = Math.floor(random() * (depth > 2 ? 5 : 8));
  switch (pick) {
    case 0: return numbers[Math.floor(random() * numbers.length)];
    case 1: return 'x'.repeat(Math.floor(random() * 300));
    case 2: return random() < 0.5;
    case 3: return null;
    case 4: return Buffer.alloc(Math.floor(random() * 64), Math.floor(random() * 256));
    case 5: return Array.from({ length: Math.floor(random() * 5) }, () => randomValue(random, depth + 1));
    default: {
      const keys = ['header', 'signature', 'weights', 'type', 'job', 'round', 'participant', 'nonce', 'numSamples', 'metrics', '__proto__', 'constructor'];
      return Object.fromEntries(Array.from({ length: Math.floor(random() * 6) }, () => [keys[Math.floor(random() * keys.length)], randomValue(random, depth + 1)]));
    }
  }
}

/** A signed-looking update that is always invalid: mutated after signing, or signed with invalid content. */
function mutatedUpdate(random: () => number, train: TrainMessage, keys: KeyPair): unknown {
  const size = (train.weights as Uint8Array).byteLength / 4;
  const kind = Math.floor(random() * 8);
  const valid = craftUpdate(train, 'fuzzer', keys);
  switch (kind) {
    case 0: return { ...valid, header: { ...valid.header, numSamples: valid.header.numSamples + 1 } }; // breaks the signature
    case 1: return { ...valid, weights: valid.weights.subarray(0, Math.floor(random() * valid.weights.byteLength)) }; // truncated
    case 2: return { ...valid, weights: Buffer.concat([valid.weights, Buffer.alloc(4 + Math.floor(random() * 64))]) }; // overlong
    case 3: return craftUpdate(train, 'fuzzer', keys, { header: { numSamples: -Math.floor(random() * 1e9) } });
    case 4: return craftUpdate(train, 'fuzzer', keys, { weights: new Float32Array(size).fill(Number.NaN) });
    // far past the job's last round: a stale train message must never yield a valid update
    case 5: return craftUpdate(train, 'fuzzer', keys, { header: { round: 1000 + Math.floor(random() * 5) } });
    case 6: return { ...valid, signature: valid.signature.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) };
    default: return { ...valid, header: { ...valid.header, extra: randomValue(random) } }; // a field outside the protocol
  }
}

interface RunResult {
  modelSha256: string;
  frames: number;
  rss: { before: number; after: number; max: number };
  coordinatorAlive: boolean;
}

async function runJob(withFuzzer: boolean): Promise<RunResult> {
  const dir = tempDir(withFuzzer ? 'fuzz' : 'fuzz-baseline');
  const coordinator: Running & { url: string } = await startCoordinatorProcess([
    '--data-dir', `${dir}/coordinator`, '--admin-token', TOKEN, '--max-frame-bytes', String(FRAME_LIMIT),
    // The fuzzer's refusals must not keep its key out (they would within a minute): it is to reach the checks behind the handshake.
    '--handshake-failures-per-minute', '1000000', '--max-refusals-per-connection', '1000000', '--log-level', 'error',
  ]);
  const pid = coordinator.child.pid!;
  const api = new AdminApi(coordinator.url, TOKEN);
  const coordinatorKey = ((await (await fetch(`${coordinator.url}/api/health`)).json()) as { coordinatorKey: string }).coordinatorKey;
  const split = splitCsv(FILE, 3, { seed: 21, holdout: 0, dir });
  const agents: ParticipantAgent[] = [];
  const fake = { url: coordinator.url, identity: { publicKey: coordinatorKey }, adminToken: TOKEN } as never;
  for (const [i, part] of split.parties.entries()) agents.push(await startAgent(fake, `honest-${i + 1}`, part, { keys: await registerParticipant(api, `honest-${i + 1}`) }));
  const fuzzerKeys = await registerParticipant(api, 'fuzzer');

  const rss = { before: rssMb(pid), after: 0, max: 0 };
  let frames = 0;
  let running = true;
  const random = seededRandom(99);
  let train: TrainMessage | undefined;
  let authenticated: Socket | undefined;

  const fuzz = async () => {
    while (running || frames < 10_000) {
      if (!authenticated?.connected) {
        authenticated?.close();
        const connection = await connectRaw(coordinator.url, handshakeAuth(fuzzerKeys));
        frames++;
        if (connection.refused) continue;
        authenticated = connection.socket;
        authenticated.on('train', (m: TrainMessage) => (train = m));
      }
      const roll = random();
      if (roll < 0.05) {
        // unauthenticated: a handshake of random junk
        const { socket, refused } = await connectRaw(coordinator.url, randomValue(random));
        expect(refused).toBeDefined();
        socket.close();
      } else if (roll < 0.06) {
        authenticated.emit('update', { header: {}, signature: '', weights: Buffer.alloc(FRAME_LIMIT + 1024) }); // oversized
      } else if (roll < 0.4 && train) {
        authenticated.emit('update', mutatedUpdate(random, train, fuzzerKeys), () => undefined);
      } else {
        const events = ['update', 'statistics', 'evaluation', 'welcome', 'train', 'no-such-event', 'disconnect_me', ''];
        const event = events[Math.floor(random() * events.length)];
        const args = Array.from({ length: Math.floor(random() * 3) }, () => randomValue(random));
        if (random() < 0.5) args.push(() => undefined);
        try {
          authenticated.emit(event, ...args);
        } catch {
          // socket.io refuses reserved event names on the client side; that frame is not sent
          continue;
        }
      }
      frames++;
      rss.max = Math.max(rss.max, frames % 500 === 0 ? rssMb(pid) : 0);
      // Yield to the event loop now and then, so that the sockets' buffers drain.
      if (frames % 20 === 0) await new Promise((r) => setImmediate(r));
    }
  };

  const job = await api.createJob({
    model: 'logistic',
    features: featuresOf(FILE, 'diagnosis'),
    target: 'diagnosis',
    rounds: 25,
    localEpochs: 3,
    minParticipants: 3,
    roundDeadlineSeconds: 30,
    // the fuzzer is selected too but never sends a valid update: close as soon as the honest three are in
    waitAfterMinimumSeconds: 0,
    evaluateEvery: 0,
  });
  const fuzzing = withFuzzer ? fuzz() : Promise.resolve();
  const done = await eventually(() => api.job(job.id), (j: JobView) => j.status === 'completed' || j.status === 'failed' || j.status === 'paused', 240_000);
  running = false;
  await fuzzing;
  rss.after = rssMb(pid);
  const coordinatorAlive = coordinator.child.exitCode === null && coordinator.child.signalCode === null;
  const model = await api.model(job.id);
  expect(done.status).toBe('completed');
  authenticated?.close();
  agents.forEach((a) => a.stop());
  coordinator.child.kill('SIGTERM');
  return { modelSha256: model.sha256, frames, rss, coordinatorAlive };
}

describe('fuzzing the coordinator while a job runs', () => {
  let baseline: RunResult;
  let fuzzed: RunResult;

  beforeAll(async () => {
    baseline = await runJob(false);
    fuzzed = await runJob(true);
  });

  it('sends at least 10,000 frames', () => {
    expect(fuzzed.frames).toBeGreaterThanOrEqual(10_000);
  });

  it('never takes the coordinator process down', () => {
    expect(fuzzed.coordinatorAlive).toBe(true);
  });

  it('keeps the coordinator\'s memory bounded', () => {
    expect(fuzzed.rss.after).toBeLessThan(fuzzed.rss.before + 150);
    expect(Math.max(fuzzed.rss.max, fuzzed.rss.after)).toBeLessThan(400);
  });

  it('leaves the honest agents\' final model identical to the bit', () => {
    expect(fuzzed.modelSha256).toBe(baseline.modelSha256);
  });
});
