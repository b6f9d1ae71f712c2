/**
 * The agent's side of job setups, against a stand-in coordinator on loopback:
 * train requests name the job's setup by digest, and the agent trains only
 * under a setup it received signed by the coordinator key it pinned. It works
 * through requests one at a time, skipping those whose round is over, reads
 * its data once for the jobs that share it, and journals each update before
 * sending it.
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
  type EvaluateHeader,
  type EvaluationHeader,
  type SetupHeader,
  type TrainHeader,
  type UpdateHeader,
} from '@fl/shared';
import { ParticipantAgent, readJournal } from '@fl/participant-agent';
import { eventually, tempDir, writeCsv } from './harness';
import { stubWelcome, twoColumnSetup } from './raw-client';

jest.setTimeout(60_000);

describe('an agent given job setups by digest', () => {
  const coordinator = generateKeyPair();
  const impostor = generateKeyPair();
  const site = generateKeyPair();
  const updates: { header: UpdateHeader; signature: string }[] = [];
  const evaluations: EvaluationHeader[] = [];
  /** resolved unless a test holds the acks of updates, to keep the agent's request in progress so and those after it waiting */
  let acks = Promise.resolve();
  const logged: string[] = [];
  let server: http.Server;
  let io: Server;
  let socket: Socket;
  let agent: ParticipantAgent;
  let dataFile: string;
  let journalFile: string;
  /** the agent's journal as it was when each update reached the coordinator */
  const journalAtUpdate: string[] = [];

  // Rounds enough for every round the tests ask of one job: a site answers none beyond the job's rounds.
  const setup = twoColumnSetup('job-1', JobSpecSchema.parse({ model: 'logistic', features: [{ name: 'x1', type: 'numeric' }, { name: 'x2', type: 'numeric' }], target: 'label', evaluateEvery: 0, rounds: 100 }));
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

  /** Sends a job's setup signed by the coordinator, as it does before the job's first request on a connection. */
  function provide(header: SetupHeader): void {
    socket.emit('setup', { header, signature: signHeader('setup', header, coordinator.secretKey) });
  }

  const setupD: SetupHeader = { ...setup, job: 'job-D' };
  /** What a request of job-D names, as train() fills it in, for a test that signs or alters the request itself. */
  const jobD = (round: number) => ({
    job: 'job-D',
    round,
    setup: setupDigest(setupD),
    weightsSha256: sha256Hex(weights),
    deadline: Date.now() + 60_000,
    issuedAt: Date.now(),
    auditHead: { seq: 1, hash: '0'.repeat(64) },
  });

  /** Holds the acks of updates until the function returned is called: the request in progress stays so. */
  function holdAcks(): () => void {
    let release!: () => void;
    acks = new Promise((resolve) => (release = resolve));
    return release;
  }

  beforeAll(async () => {
    server = http.createServer();
    io = new Server(server, { transports: ['websocket'], parser: packetCodec });
    const connected = new Promise<Socket>((resolve) =>
      io.of(AGENT_NAMESPACE).on('connection', (s) => {
        s.on('update', (message: { header: UpdateHeader; signature: string }, ack: (reply: unknown) => void) => {
          updates.push(message);
          journalAtUpdate.push(fs.existsSync(journalFile) ? fs.readFileSync(journalFile, 'utf8') : '');
          void acks.then(() => ack({ ok: true }));
        });
        s.on('evaluation', (message: { header: EvaluationHeader }, ack: (reply: unknown) => void) => {
          evaluations.push(message.header);
          ack({ ok: true });
        });
        s.emit('welcome', stubWelcome(s.handshake.auth, coordinator));
        resolve(s);
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const rows = Array.from({ length: 20 }, (_, i) => [String((i % 5) - 2), String((i % 3) - 1), i % 2 ? 'yes' : 'no']);
    dataFile = writeCsv(path.join(tempDir('setup'), 'site-a.csv'), ['x1', 'x2', 'label'], rows);
    journalFile = path.join(path.dirname(dataFile), 'journal.jsonl');
    agent = new ParticipantAgent({
      coordinatorUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      keys: site,
      dataFile,
      journalFile,
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
    // The same round of three jobs alike three ways (a site trains a round of one job with one config only): plain, with
    // FedProx's μ, with SCAFFOLD's correction. The same seed, so only the config differs; batches of 4, so that the
    // proximal term, 0 at the first step, counts from the second.
    const before = updates.length;
    const [plain, proximal, corrected] = ['job-6a', 'job-6b', 'job-6c'].map((job) => ({ ...setup, job, spec: { ...setup.spec, batchSize: 4 } }));
    for (const header of [plain, proximal, corrected]) provide(header);
    train(6, setupDigest(plain), undefined, plain.job);
    train(6, setupDigest(proximal), { header: { proximalMu: 5 } }, proximal.job);
    train(6, setupDigest(corrected), { header: { correctionSha256: sha256Hex(correction) }, correction }, corrected.job);
    await eventually(() => updates.length - before, (n) => n === 3);
    expect(updates.slice(before).map((u) => u.header.round)).toEqual([6, 6, 6]);
    expect(new Set(updates.slice(before).map((u) => u.header.weightsSha256)).size).toBe(3);
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
    const now = Date.now();
    // A round with 40 s less than no time left when issued stands for one that waited 40 s too long here (beyond the grace for the ack)
    train(2, setupDigest({ ...setup, job: 'job-B' }), undefined, 'job-B', { issuedAt: now, deadline: now - 40_000 });
    // A coordinator whose clock is ten minutes behind: its deadline is long past by this clock, but the round has a minute left
    // (another job's: a later round of job-B would show round 2 over before its wait did)
    train(3, setupDigest({ ...setup, job: 'job-C' }), undefined, 'job-C', { issuedAt: now - 600_000, deadline: now - 540_000 });
    await eventually(() => updates.length - before, (n) => n === 1);
    expect(updates.at(-1)!.header).toMatchObject({ job: 'job-C', round: 3 });
    expect(logged).toContainEqual(expect.stringMatching(/^job job-B round 2: the train request waited 0 s here, past its round's deadline; skipped$/));
  });

  it('reads its data file once for jobs running at once on the same columns, and again once the file changes', async () => {
    // Prepare: two jobs over the same columns with different training settings, and a file changed since the last read
    const setups = [
      { ...setup, job: 'job-P' },
      { ...setup, job: 'job-Q', spec: { ...setup.spec, learningRate: 0.5 } },
    ];
    for (const header of setups) provide(header);
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

  it('skips a train request still waiting when a later round of its job comes signed by the coordinator, never one in progress', async () => {
    // Prepare: job-D's round 7 in progress (the ack of its update held), so that what comes next waits
    const digest = setupDigest(setupD);
    provide(setupD);
    const before = updates.length;
    const release = holdAcks();
    train(7, digest, undefined, 'job-D');
    await eventually(() => updates.length - before, (n) => n === 1);
    // Execute: rounds 8 and 9 come while it is busy
    train(8, digest, undefined, 'job-D');
    train(9, digest, undefined, 'job-D');
    release();
    // Assert: round 7 finished, round 8 skipped, round 9 answered
    await eventually(() => updates.at(-1)!.header.round, (round) => round === 9);
    expect(updates.slice(before).map((u) => u.header.round)).toEqual([7, 9]);
    expect(logged).toContainEqual(expect.stringMatching(/^job job-D round 7: trained on \d+ rows in .*; update accepted$/));
    expect(logged).toContainEqual('job job-D round 8: the train request was still waiting here when the train request of round 9 came; skipped');
  });

  it('skips it, too, for the evaluate request of its round (the last): the model it carries is that round\'s', async () => {
    // Prepare
    provide(setupD);
    const before = updates.length;
    const release = holdAcks();
    train(10, setupDigest(setupD), undefined, 'job-D');
    await eventually(() => updates.length - before, (n) => n === 1);
    train(11, setupDigest(setupD), undefined, 'job-D');
    // Execute
    const evaluate: EvaluateHeader = { type: 'evaluate', ...jobD(11) };
    socket.emit('evaluate', { header: evaluate, signature: signHeader('evaluate', evaluate, coordinator.secretKey), weights });
    release();
    // Assert
    await eventually(() => evaluations.length, (n) => n === 1);
    expect(evaluations[0]).toMatchObject({ job: 'job-D', round: 11 });
    expect(updates.slice(before).map((u) => u.header.round)).toEqual([10]);
    expect(logged).toContainEqual('job job-D round 11: the train request was still waiting here when the evaluate request of round 11 came; skipped');
  });

  it('lets no later request it cannot verify set a waiting one aside: not signed by the coordinator, or with another model than its header names', async () => {
    // Prepare: round 12 in progress, round 13 waiting behind it
    provide(setupD);
    const before = updates.length;
    const release = holdAcks();
    train(12, setupDigest(setupD), undefined, 'job-D');
    await eventually(() => updates.length - before, (n) => n === 1);
    train(13, setupDigest(setupD), undefined, 'job-D');
    // Execute: round 14 signed by another key, round 15 signed but carrying other bytes
    const forged: TrainHeader = { type: 'train', ...jobD(14), evaluate: false };
    socket.emit('train', { header: forged, signature: signHeader('train', forged, impostor.secretKey), weights });
    const altered: TrainHeader = { type: 'train', ...jobD(15), evaluate: false };
    socket.emit('train', { header: altered, signature: signHeader('train', altered, coordinator.secretKey), weights: encodeWeights(new Float32Array([1, 2, 3])) });
    release();
    // Assert: round 13 answered; each frame ignored in its turn
    const ignored = 'job job-D round 15: the global model does not match its signed train header; ignored';
    await eventually(() => logged.includes(ignored), (done) => done);
    expect(updates.slice(before).map((u) => u.header.round)).toEqual([12, 13]);
    expect(logged.filter((l) => l.startsWith('job job-D round 13:'))).toEqual([expect.stringMatching(/: trained on \d+ rows in .*; update accepted$/)]);
  });

  it('journals an update before it sends it, so that the journal holds it should the agent die before the ack: then the ack after it', async () => {
    // Prepare
    provide(setupD);
    const before = updates.length;
    const release = holdAcks();
    // Execute
    train(17, setupDigest(setupD), undefined, 'job-D');
    await eventually(() => updates.length - before, (n) => n === 1);
    const { signature, header } = updates[before];
    const heldBack = readJournal(journalFile).filter((e) => e.signature === signature);
    release();
    await eventually(() => readJournal(journalFile).find((e) => e.signature === signature)?.accepted, (accepted) => accepted !== undefined);
    // Assert: the line was on disk when the update reached the coordinator, awaiting its answer; the answer is a line of its own
    expect(journalAtUpdate[before]).toContain(signature);
    expect(heldBack).toEqual([expect.objectContaining({ job: 'job-D', round: 17, nonce: header.nonce, sha256: header.weightsSha256, auditHead: { seq: 1, hash: '0'.repeat(64) } })]);
    expect(heldBack[0]).not.toHaveProperty('accepted');
    expect(readJournal(journalFile).filter((e) => e.signature === signature)).toEqual([expect.objectContaining({ round: 17, accepted: true })]);
    expect(fs.readFileSync(journalFile, 'utf8')).toContain(`{"kind":"answer","nonce":"${header.nonce}","accepted":true,`);
  });

  it('journals an update once, with its answer, when the journal cannot be flushed before the send', async () => {
    // Prepare: every flush of the journal fails after its write
    provide(setupD);
    const before = updates.length;
    // The module itself, which the agent calls: the namespace imported here only reads through to it.
    const flush = jest.spyOn(jest.requireActual<typeof fs>('node:fs'), 'fdatasyncSync').mockImplementation(() => {
      throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    });
    try {
      // Execute
      train(18, setupDigest(setupD), undefined, 'job-D');
      await eventually(() => updates.length - before, (n) => n === 1);
      const { signature } = updates[before];
      await eventually(() => readJournal(journalFile).some((e) => e.signature === signature && e.accepted !== undefined), (answered) => answered);
      // Assert: one line of the update, answered, not a copy of it without its answer besides
      expect(flush).toHaveBeenCalled();
      expect(readJournal(journalFile).filter((e) => e.signature === signature)).toEqual([expect.objectContaining({ round: 18, accepted: true })]);
    } finally {
      flush.mockRestore();
    }
  });

  it('stopped by hand while an update waits for its answer, waits for the answer before it disconnects (the last test: the agent stops)', async () => {
    // Prepare: round 16's update sent, its ack held
    provide(setupD);
    const before = updates.length;
    const release = holdAcks();
    train(16, setupDigest(setupD), undefined, 'job-D');
    await eventually(() => updates.length - before, (n) => n === 1);
    const told: string[] = [];
    agent.on('trained', ({ round, ack }: { round: number; ack: { ok: boolean } }) => told.push(`trained ${round} ${ack.ok ? 'accepted' : 'refused'}`));
    const stopped = new Promise<void>((resolve) => agent.once('stopped', () => resolve(void told.push('stopped'))));
    // Execute
    agent.stop();
    release();
    await stopped;
    // Assert: the answer came (and was journaled) before the agent stopped
    expect(told).toEqual(['trained 16 accepted', 'stopped']);
    expect(logged).toContainEqual("stopping: waiting up to 10 s for the coordinator's answer to what was sent");
  });
});
