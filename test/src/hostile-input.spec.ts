/**
 * Refusals, each with its own code: forged, misdirected, repeated, misshapen and
 * non-finite updates, and handshakes that must not get in. The round goes on and
 * completes with the honest participants. A malformed or misdirected frame is
 * only refused (a valid update may follow); an implausible signed update leaves
 * its participant out of the round at once.
 */
import type { Socket } from 'socket.io-client';
import type { RunningCoordinator } from '@fl/coordinator';
import {
  generateKeyPair,
  PROTOCOL_VERSION,
  randomNonce,
  signHeader,
  type Ack,
  type EvaluateMessage,
  type EvaluationHeader,
  type FailureHeader,
  type KeyPair,
  type StatisticsRequest,
  type TrainMessage,
} from '@fl/shared';
import { computeStatistics, loadLocalData, type ParticipantAgent } from '@fl/participant-agent';
import { connectRaw, craftUpdate, emitWithAck, handshakeAuth } from './raw-client';
import { AdminApi, DATA_DIR, eventually, featuresOf, registerParticipant, splitCsv, startAgent, tempDir, testCoordinator } from './harness';

jest.setTimeout(120_000);

describe('handshakes that are refused', () => {
  let coordinator: RunningCoordinator;
  let keys: KeyPair;

  beforeAll(async () => {
    coordinator = await testCoordinator();
    keys = await registerParticipant(AdminApi.of(coordinator), 'bank-a');
  });
  afterAll(() => coordinator?.close());

  it('lets a registered key in', async () => {
    const { socket, refused } = await connectRaw(coordinator.url, handshakeAuth(keys));
    expect(refused).toBeUndefined();
    socket.close();
  });

  it.each([
    ['an unknown key', () => handshakeAuth(generateKeyPair()), 'UNKNOWN_PARTICIPANT'],
    ['a signature by another key', () => handshakeAuth(keys, { signWith: generateKeyPair() }), 'BAD_SIGNATURE'],
    ['a stale timestamp', () => handshakeAuth(keys, { timestamp: Date.now() - 10 * 60_000 }), 'STALE_TIMESTAMP'],
    ['a timestamp from the future', () => handshakeAuth(keys, { timestamp: Date.now() + 10 * 60_000 }), 'STALE_TIMESTAMP'],
    ['no auth at all', () => undefined, 'INVALID_FRAME'],
    ['garbage', () => ({ header: { type: 'handshake', protocol: PROTOCOL_VERSION, publicKey: 42 } }), 'INVALID_FRAME'],
    ['no protocol version (a version-1 agent)', () => ({ header: { type: 'handshake', publicKey: 42 } }), 'UNSUPPORTED_PROTOCOL'],
  ])('refuses %s with its code', async (_, auth, code) => {
    const { refused } = await connectRaw(coordinator.url, auth());
    expect(refused).toEqual(expect.objectContaining({ code }));
  });

  it('refuses a replayed handshake', async () => {
    const auth = handshakeAuth(keys);
    const first = await connectRaw(coordinator.url, auth);
    expect(first.refused).toBeUndefined();
    first.socket.close();
    const second = await connectRaw(coordinator.url, auth);
    expect(second.refused?.code).toBe('REPLAYED_NONCE');
  });
});

describe('a fault of the coordinator while it handles a message', () => {
  let coordinator: RunningCoordinator;

  afterAll(() => coordinator?.close());

  it('answers INTERNAL at once, and the connection goes on', async () => {
    coordinator = await testCoordinator();
    const keys = await registerParticipant(AdminApi.of(coordinator), 'bank-a');
    const { socket } = await connectRaw(coordinator.url, handshakeAuth(keys));
    const submitEvaluation = coordinator.engine.submitEvaluation;
    coordinator.engine.submitEvaluation = () => Promise.reject(new Error('a fault injected by the test'));
    try {
      expect(await emitWithAck(socket, 'evaluation', {})).toEqual({ ok: false, error: expect.objectContaining({ code: 'INTERNAL' }) });
    } finally {
      coordinator.engine.submitEvaluation = submitEvaluation;
    }
    expect(await emitWithAck(socket, 'evaluation', {})).toEqual({ ok: false, error: expect.objectContaining({ code: 'INVALID_FRAME' }) });
    expect(socket.connected).toBe(true);
    socket.close();
  });
});

describe('updates that are refused while honest participants train', () => {
  let coordinator: RunningCoordinator;
  let api: AdminApi;
  let agents: ParticipantAgent[];
  let mallory: Socket;
  let malloryKeys: KeyPair;
  let trudy: Socket;
  let jobId: string;
  const acks: Record<string, Ack> = {};

  beforeAll(async () => {
    coordinator = await testCoordinator();
    api = AdminApi.of(coordinator);
    const file = `${DATA_DIR}/breast_cancer.csv`;
    const split = splitCsv(file, 3, { seed: 3, holdout: 0, dir: tempDir('split') });
    agents = [await startAgent(coordinator, 'bank-a', split.parties[0]), await startAgent(coordinator, 'bank-b', split.parties[1])];
    malloryKeys = await registerParticipant(api, 'mallory');
    ({ socket: mallory } = await connectRaw(coordinator.url, handshakeAuth(malloryKeys)));
    // Mallory answers the statistics phase properly, so that it is selected for round 1 ...
    const answerStatistics = (socket: Socket, participant: string, keys: KeyPair) =>
      socket.on('statistics-request', async (request: StatisticsRequest) => {
        const statistics = computeStatistics((await loadLocalData(split.parties[2], request.header.spec)).table, request.header.spec);
        const header = { type: 'statistics' as const, job: request.header.job, participant, nonce: randomNonce(), statistics };
        void emitWithAck(socket, 'statistics', { header, signature: signHeader('statistics', header, keys.secretKey) });
      });
    answerStatistics(mallory, 'mallory', malloryKeys);
    // Trudy answers the statistics phase properly too, then sends one implausible update a round: it is left out of each.
    const trudyKeys = await registerParticipant(api, 'trudy');
    ({ socket: trudy } = await connectRaw(coordinator.url, handshakeAuth(trudyKeys)));
    answerStatistics(trudy, 'trudy', trudyKeys);
    trudy.on('train', async (train: TrainMessage) => {
      const size = (train.weights as Uint8Array).byteLength / 4;
      const { round } = train.header;
      if (round === 1) {
        const nan = new Float32Array(size);
        nan[3] = NaN;
        acks.nan = await emitWithAck(trudy, 'update', craftUpdate(train, 'trudy', trudyKeys, { weights: nan }));
        acks.afterLeftOut = await emitWithAck(trudy, 'update', craftUpdate(train, 'trudy', trudyKeys));
      }
      if (round === 2) acks.tooManySamples = await emitWithAck(trudy, 'update', craftUpdate(train, 'trudy', trudyKeys, { header: { numSamples: 1_000_000 } }));
      if (round === 3) acks.huge = await emitWithAck(trudy, 'update', craftUpdate(train, 'trudy', trudyKeys, { weights: new Float32Array(size).fill(3e38) }));
    });
    // Asked to evaluate the last model, trudy says it cannot, rather than leave the evaluation to its deadline.
    trudy.on('evaluate', (request: EvaluateMessage) => {
      const header: FailureHeader = { type: 'failure', job: request.header.job, round: request.header.round, phase: 'evaluate', participant: 'trudy', nonce: randomNonce(), code: 'TRAINING_FAILED', counts: {} };
      void emitWithAck(trudy, 'failure', { header, signature: signHeader('failure', header, trudyKeys.secretKey) });
    });
    // ... and sends the global model back unchanged in the later rounds, with its evaluation of it (the previous
    // round's model), which the train request asks for: round 2 gets the refused kinds of evaluation first.
    mallory.on('train', async (train: TrainMessage) => {
      const { round, weightsSha256 } = train.header;
      if (round === 1) return;
      const evaluation = { round: round - 1, numExamples: 5, metrics: { accuracy: 0.5 }, modelSha256: weightsSha256 };
      const update = (change: Partial<typeof evaluation> = {}) => craftUpdate(train, 'mallory', malloryKeys, { header: { evaluation: { ...evaluation, ...change } } });
      if (round === 2) {
        acks.updateEvaluationOfAnotherModel = await emitWithAck(mallory, 'update', update({ modelSha256: 'cd'.repeat(32) }));
        acks.updateEvaluationOfAnotherRound = await emitWithAck(mallory, 'update', update({ round }));
        acks.updateEvaluationWithoutExamples = await emitWithAck(mallory, 'update', update({ numExamples: 0 }));
        acks.updateMetricOutOfRange = await emitWithAck(mallory, 'update', craftUpdate(train, 'mallory', malloryKeys, { header: { metrics: { trainLoss: -5 } } }));
      }
      acks[`update${round}`] = await emitWithAck(mallory, 'update', update());
    });
    // Mallory's evaluation of the last round, which has its own exchange: the refused kinds first, then a valid one.
    mallory.on('evaluate', async (request: EvaluateMessage) => {
      const evaluation = (change: Partial<EvaluationHeader> = {}) => {
        const header: EvaluationHeader = {
          type: 'evaluation', job: request.header.job, round: request.header.round, participant: 'mallory', nonce: randomNonce(),
          numExamples: 5, metrics: { accuracy: 0.5 }, modelSha256: request.header.weightsSha256, ...change,
        };
        return { header, signature: signHeader('evaluation', header, malloryKeys.secretKey) };
      };
      if (request.header.round === 3) {
        acks.evaluationOfAnotherModel = await emitWithAck(mallory, 'evaluation', evaluation({ modelSha256: 'cd'.repeat(32) }));
        acks.evaluationOfAnotherRound = await emitWithAck(mallory, 'evaluation', evaluation({ round: 2 }));
        acks.evaluationWithoutExamples = await emitWithAck(mallory, 'evaluation', evaluation({ numExamples: 0 }));
        acks.evaluationWithNaN = await emitWithAck(mallory, 'evaluation', { ...evaluation(), header: { ...evaluation().header, metrics: { accuracy: 'NaN' } } });
        acks.evaluationMetricOutOfRange = await emitWithAck(mallory, 'evaluation', evaluation({ metrics: { accuracy: 1e6 } }));
      }
      acks[`evaluation${request.header.round}`] = await emitWithAck(mallory, 'evaluation', evaluation());
    });
    const firstTrain = new Promise<TrainMessage>((resolve) => mallory.once('train', resolve));
    const job = await api.createJob({
      model: 'logistic',
      features: featuresOf(file, 'diagnosis'),
      target: 'diagnosis',
      rounds: 3,
      minParticipants: 2,
      roundDeadlineSeconds: 60,
    });
    jobId = job.id;
    const train = await firstTrain;
    const other = generateKeyPair();
    const size = (train.weights as Uint8Array).byteLength / 4;
    const send = async (name: string, message: unknown) => (acks[name] = await emitWithAck(mallory, 'update', message));
    await send('garbage', { header: { type: 'update' }, weights: 'not binary' });
    await send('forged', craftUpdate(train, 'mallory', malloryKeys, { signWith: other }));
    const signed = craftUpdate(train, 'mallory', malloryKeys);
    await send('extraField', { ...signed, header: { ...signed.header, note: 'not in the protocol' } });
    // A refusal names what it refuses, in the ack and in the log: 5,000 unknown fields of 200 characters, or a metric named by
    // 100,000, must not make either as large as the frame.
    const unknownFields = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`field${i}`.padEnd(200, 'x'), 1]));
    await send('manyUnknownFields', { ...signed, header: { ...signed.header, ...unknownFields } });
    await send('longMetricName', craftUpdate(train, 'mallory', malloryKeys, { header: { metrics: { ['m'.repeat(100_000)]: 1 } } }));
    await send('impersonation', craftUpdate(train, 'bank-a', malloryKeys));
    await send('unknownJob', craftUpdate(train, 'mallory', malloryKeys, { header: { job: 'no-such-job' } }));
    await send('wrongRound', craftUpdate(train, 'mallory', malloryKeys, { header: { round: train.header.round + 1 } }));
    await send('wrongShape', craftUpdate(train, 'mallory', malloryKeys, { weights: new Float32Array(size + 1) }));
    await send('digest', craftUpdate(train, 'mallory', malloryKeys, { sha256: 'ab'.repeat(32) }));
    const valid = craftUpdate(train, 'mallory', malloryKeys);
    await send('replayedRefusal', craftUpdate(train, 'mallory', malloryKeys, { header: { nonce: 'same-nonce-twice-0123' }, weights: new Float32Array(size + 1) }));
    await send('replayOfRefused', craftUpdate(train, 'mallory', malloryKeys, { header: { nonce: 'same-nonce-twice-0123' } }));
    await send('valid', valid);
    await send('second', craftUpdate(train, 'mallory', malloryKeys));
    await coordinator.engine.whenFinished(jobId);
    // the ack of the last evaluation travels back after the job has ended
    await eventually(() => acks.evaluation3, (ack) => ack !== undefined);
  });

  afterAll(async () => {
    mallory?.close();
    trudy?.close();
    agents?.forEach((a) => a.stop());
    await coordinator?.close();
  });

  it.each([
    ['garbage', 'INVALID_FRAME'],
    ['forged', 'BAD_SIGNATURE'],
    ['extraField', 'INVALID_FRAME'],
    ['impersonation', 'WRONG_PARTICIPANT'],
    ['unknownJob', 'UNKNOWN_JOB'],
    ['wrongRound', 'WRONG_ROUND'],
    ['wrongShape', 'WRONG_SHAPE'],
    ['digest', 'DIGEST_MISMATCH'],
    ['nan', 'NON_FINITE'],
    ['afterLeftOut', 'NOT_SELECTED'],
    ['tooManySamples', 'IMPLAUSIBLE_SAMPLES'],
    ['huge', 'IMPLAUSIBLE_WEIGHTS'],
    ['second', 'DUPLICATE_UPDATE'],
    ['replayedRefusal', 'WRONG_SHAPE'],
    ['replayOfRefused', 'REPLAYED_NONCE'],
    ['evaluationOfAnotherModel', 'DIGEST_MISMATCH'],
    ['evaluationOfAnotherRound', 'WRONG_ROUND'],
    ['evaluationWithoutExamples', 'IMPLAUSIBLE_SAMPLES'],
    ['evaluationWithNaN', 'INVALID_FRAME'],
    ['updateEvaluationOfAnotherModel', 'DIGEST_MISMATCH'],
    ['updateEvaluationOfAnotherRound', 'WRONG_ROUND'],
    ['updateEvaluationWithoutExamples', 'IMPLAUSIBLE_SAMPLES'],
    ['updateMetricOutOfRange', 'INVALID_FRAME'],
    ['evaluationMetricOutOfRange', 'INVALID_FRAME'],
  ])('refuses the %s update with %s', (name, code) => {
    expect(acks[name]).toEqual({ ok: false, error: { code, message: expect.any(String) } });
  });

  it('names what it refuses in a message of bounded length, however large the frame', () => {
    expect(acks.manyUnknownFields).toEqual({ ok: false, error: { code: 'INVALID_FRAME', message: expect.stringMatching(/^header: Unrecognized keys: "field0x+", "field1x/) } });
    expect(acks.longMetricName).toEqual({ ok: false, error: { code: 'INVALID_FRAME', message: expect.stringMatching(/^header\.metrics\.m{60}/) } });
    for (const ack of [acks.manyUnknownFields, acks.longMetricName]) expect(!ack.ok && ack.error.message.length).toBeLessThanOrEqual(1000);
  });

  it('says which metric values it refuses', () => {
    expect(acks.evaluationMetricOutOfRange).toMatchObject({ error: { message: expect.stringContaining('accuracy and trainAccuracy are within [0, 1]') } });
  });

  it('accepts the one valid update, and the valid evaluations', () => {
    expect(acks.valid).toEqual({ ok: true });
    expect([acks.update2, acks.update3, acks.evaluation3]).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    expect(acks.evaluation1).toBeUndefined(); // rounds 1 and 2 were evaluated with the next round's updates
  });

  it('records the evaluations that came with updates with the round they evaluate', async () => {
    const rounds = await api.rounds(jobId);
    for (const round of rounds) expect(round.evaluation?.participants.sort()).toEqual(['bank-a', 'bank-b', 'mallory']);
  });

  it('completes every round, counting each participant once', async () => {
    const job = await api.job(jobId);
    expect(job.status).toBe('completed');
    const rounds = await api.rounds(jobId);
    expect(rounds.map((r) => r.round)).toEqual([1, 2, 3]);
    for (const round of rounds) {
      expect(round.contributors.map((c) => c.participant).sort()).toEqual(['bank-a', 'bank-b', 'mallory']);
      expect(round.contributors.find((c) => c.participant === 'mallory')!.numSamples).toBe(10);
    }
  });

  it('shows why each of trudy\'s updates was left out, in the round and in the audit log', async () => {
    const rounds = await api.rounds(jobId);
    expect(rounds.map((r) => r.failures)).toEqual([
      [{ participant: 'trudy', reason: 'weight 3 is NaN', code: 'NON_FINITE' }],
      [{ participant: 'trudy', reason: expect.stringMatching(/^numSamples 1000000 is not between 1 and \d+/), code: 'IMPLAUSIBLE_SAMPLES' }],
      [{ participant: 'trudy', reason: expect.stringMatching(/beyond ±1000000/), code: 'IMPLAUSIBLE_WEIGHTS' }],
    ]);
    const { records } = await api.audit();
    const excluded = records.filter((r) => r.kind === 'update.excluded').map((r) => `${r.data.round} ${r.data.participant} ${r.data.code}`);
    expect(excluded).toEqual(['1 trudy NON_FINITE', '2 trudy IMPLAUSIBLE_SAMPLES', '3 trudy IMPLAUSIBLE_WEIGHTS']);
  });

  it('keeps the connection of the participant whose frames were refused', () => {
    expect(mallory.connected).toBe(true);
  });
});
