/**
 * The agent's side of job setups, against a stand-in coordinator on loopback:
 * train requests name the job's setup by digest, and the agent trains only
 * under a setup it received signed by the coordinator key it pinned.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import {
  AGENT_NAMESPACE,
  encodeKey,
  encodeWeights,
  generateKeyPair,
  JobSpecSchema,
  packetCodec,
  sha256Hex,
  setupDigest,
  signHeader,
  verifyHeader,
  type SetupHeader,
  type TrainHeader,
  type UpdateHeader,
} from '@fl/shared';
import { ParticipantAgent } from '@fl/participant-agent';
import { eventually, tempDir, writeCsv } from './harness';
import { stubWelcome } from './raw-client';

jest.setTimeout(60_000);

describe('an agent given job setups by digest', () => {
  const coordinator = generateKeyPair();
  const impostor = generateKeyPair();
  const site = generateKeyPair();
  const updates: { header: UpdateHeader; signature: string }[] = [];
  const logged: string[] = [];
  let server: http.Server;
  let io: Server;
  let socket: Socket;
  let agent: ParticipantAgent;
  let dataFile: string;

  const setup: SetupHeader = {
    type: 'setup',
    job: 'job-1',
    spec: JobSpecSchema.parse({ model: 'logistic', features: [{ name: 'x1', type: 'numeric' }, { name: 'x2', type: 'numeric' }], target: 'label', evaluateEvery: 0 }),
    preprocessing: {
      features: [
        { name: 'x1', type: 'numeric', mean: 0, std: 1 },
        { name: 'x2', type: 'numeric', mean: 0, std: 1 },
      ],
      target: { type: 'binary', classes: ['no', 'yes'] },
      inputDim: 2,
      rows: 20,
    },
    model: { kind: 'logistic', inputDim: 2, outputDim: 1 },
  };
  const weights = encodeWeights(new Float32Array([0.1, -0.2, 0.3]));

  /** A signed train request; `at` stands for the coordinator's clock (issuedAt) and the round's deadline by it. */
  function train(round: number, digest: string, config?: { header: TrainHeader['config']; correction?: Uint8Array }, job = 'job-1', at = { issuedAt: Date.now(), deadline: Date.now() + 60_000 }) {
    const header: TrainHeader = {
      type: 'train',
      job,
      round,
      setup: digest,
      weightsSha256: sha256Hex(weights),
      deadline: at.deadline,
      issuedAt: at.issuedAt,
      auditHead: { seq: 1, hash: '0'.repeat(64) },
      evaluate: false,
      ...(config && { config: config.header }),
    };
    const correction = config?.correction && { correction: config.correction };
    socket.emit('train', { header, signature: signHeader('train', header, coordinator.secretKey), weights, ...correction });
  }

  beforeAll(async () => {
    server = http.createServer();
    io = new Server(server, { transports: ['websocket'], parser: packetCodec });
    const connected = new Promise<Socket>((resolve) =>
      io.of(AGENT_NAMESPACE).on('connection', (s) => {
        s.on('update', (message: { header: UpdateHeader; signature: string }, ack: (reply: unknown) => void) => {
          updates.push(message);
          ack({ ok: true });
        });
        s.emit('welcome', stubWelcome(s.handshake.auth, coordinator));
        resolve(s);
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const rows = Array.from({ length: 20 }, (_, i) => [String((i % 5) - 2), String((i % 3) - 1), i % 2 ? 'yes' : 'no']);
    dataFile = writeCsv(path.join(tempDir('setup'), 'site-a.csv'), ['x1', 'x2', 'label'], rows);
    agent = new ParticipantAgent({
      coordinatorUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      keys: site,
      dataFile,
      coordinatorKey: encodeKey(coordinator.publicKey),
      log: (line) => logged.push(line),
    });
    await agent.start();
    socket = await connected;
  });

  afterAll(async () => {
    agent?.stop();
    await io?.close();
  });

  it('ignores a request naming a setup it never received, and a setup not signed by the pinned key', async () => {
    const digest = setupDigest(setup);
    const ignored = (n: number) => eventually(() => logged.filter((l) => l.includes('names a job setup not received')).length, (count) => count === n);
    train(1, digest);
    await ignored(1);
    const forged = { ...setup, spec: { ...setup.spec, learningRate: 50 } };
    socket.emit('setup', { header: forged, signature: signHeader('setup', forged, impostor.secretKey) });
    train(2, setupDigest(forged));
    await ignored(2);
    socket.emit('setup', { header: setup, signature: signHeader('setup', setup, coordinator.secretKey) });
    train(3, digest);
    // The agent handles messages in order: once round 3 is answered, rounds 1 and 2 were not.
    await eventually(() => updates.length, (n) => n > 0);
    expect(updates.map((u) => u.header.round)).toEqual([3]);
    expect(logged.some((l) => l.includes('ignored a setup message not signed by the pinned coordinator key'))).toBe(true);
  });

  it('trains under the setup a request names, and signs its update', async () => {
    const [{ header, signature }] = updates;
    expect(verifyHeader('update', header, signature, site.publicKey)).toBe(true);
    expect(header).toMatchObject({ job: 'job-1', participant: 'site-a', numSamples: 20 });
    // Later rounds name the same setup without it being sent again.
    train(4, setupDigest(setup));
    await eventually(() => updates.length, (n) => n === 2);
    expect(updates[1].header.round).toBe(4);
  });

  it('trains with the signed per-round config, and ignores a correction its header does not name', async () => {
    const digest = setupDigest(setup);
    const correction = encodeWeights(new Float32Array([0.5, -0.5, 0.25]));
    // The header names other bytes than those attached: ignored, and said so.
    train(5, digest, { header: { correctionSha256: sha256Hex(encodeWeights(new Float32Array(3))) }, correction });
    await eventually(() => logged.filter((l) => l.includes('the correction does not match its signed train header')).length, (n) => n === 1);
    // The same round three ways: plain, with FedProx's μ, with SCAFFOLD's correction. The same seed, so only
    // the config differs; batches of 4, so that the proximal term, 0 at the first step, counts from the second.
    const batched = { ...setup, spec: { ...setup.spec, batchSize: 4 } };
    socket.emit('setup', { header: batched, signature: signHeader('setup', batched, coordinator.secretKey) });
    train(6, setupDigest(batched));
    train(6, setupDigest(batched), { header: { proximalMu: 5 } });
    train(6, setupDigest(batched), { header: { correctionSha256: sha256Hex(correction) }, correction });
    await eventually(() => updates.length, (n) => n === 5);
    expect(updates.slice(2).map((u) => u.header.round)).toEqual([6, 6, 6]);
    expect(new Set(updates.slice(2).map((u) => u.header.weightsSha256)).size).toBe(3);
  });

  it('keeps the setup of every job running at once, however many: each is sent once per connection', async () => {
    // Prepare: five more jobs, their setups first (as the coordinator sends them), then a round of each
    const jobs = ['job-A', 'job-B', 'job-C', 'job-D', 'job-E'];
    const before = updates.length;
    for (const job of jobs) {
      const header = { ...setup, job };
      socket.emit('setup', { header, signature: signHeader('setup', header, coordinator.secretKey) });
    }
    // Execute
    for (const job of jobs) train(1, setupDigest({ ...setup, job }), undefined, job);
    // Assert: every job answered (the agent used to keep four setups and ignore the first job's requests)
    await eventually(() => updates.length - before, (n) => n === jobs.length);
    expect(updates.slice(before).map((u) => u.header.job)).toEqual(jobs);
    expect(logged.filter((l) => l.includes('names a job setup not received'))).toHaveLength(2);
    // A job that finished lets its setup go: a request naming it now is one of no setup received
    socket.emit('job-finished', { job: 'job-A', status: 'completed', rounds: 1 });
    train(2, setupDigest({ ...setup, job: 'job-A' }), undefined, 'job-A');
    await eventually(() => logged.filter((l) => l.includes('names a job setup not received')).length, (n) => n === 3);
  });

  it("skips a request that waited longer than its round had left (behind slower work), by this machine's clock, not the coordinator's", async () => {
    const before = updates.length;
    const digest = setupDigest({ ...setup, job: 'job-B' });
    const now = Date.now();
    // A round with 40 s less than no time left when issued stands for one that waited 40 s too long here (beyond the grace for the ack)
    train(2, digest, undefined, 'job-B', { issuedAt: now, deadline: now - 40_000 });
    // A coordinator whose clock is ten minutes behind: its deadline is long past by this clock, but the round has a minute left
    train(3, digest, undefined, 'job-B', { issuedAt: now - 600_000, deadline: now - 540_000 });
    await eventually(() => updates.length - before, (n) => n === 1);
    expect(updates.at(-1)!.header).toMatchObject({ job: 'job-B', round: 3 });
    expect(logged).toContainEqual(expect.stringMatching(/^job job-B round 2: the train request waited 0 s here, past its round's deadline; skipped$/));
  });

  it('reads its data file once for jobs running at once on the same columns, and again once the file changes', async () => {
    // Prepare: two jobs over the same columns with different training settings, and a file changed since the last read
    const setups = [
      { ...setup, job: 'job-P' },
      { ...setup, job: 'job-Q', spec: { ...setup.spec, learningRate: 0.5 } },
    ];
    for (const header of setups) socket.emit('setup', { header, signature: signHeader('setup', header, coordinator.secretKey) });
    fs.appendFileSync(dataFile, '1,0,yes\n');
    const opened = jest.spyOn(fs.promises, 'open');
    const reads = () => opened.mock.calls.filter(([file]) => file === dataFile).length;
    const answered = async (round: number, header: SetupHeader) => {
      const before = updates.length;
      train(round, setupDigest(header), undefined, header.job);
      await eventually(() => updates.length, (n) => n === before + 1);
    };
    try {
      // Execute: their rounds alternate, as when both run at once; then the file changes
      for (const round of [1, 2]) for (const header of setups) await answered(round, header);
      const unchanged = reads();
      fs.appendFileSync(dataFile, '2,1,no\n');
      for (const header of setups) await answered(3, header);
      // Assert
      expect(unchanged).toBe(1);
      expect(reads()).toBe(2);
      expect(updates.slice(-2).map((u) => [u.header.job, u.header.numSamples])).toEqual([
        ['job-P', 22],
        ['job-Q', 22],
      ]);
    } finally {
      opened.mockRestore();
    }
  });
});
