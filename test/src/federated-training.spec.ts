/**
 * End to end over real sockets: a coordinator on SQLite and three agents, each on
 * its own part of the breast cancer data, train a logistic model. The model must
 * predict a held-back 20% well, and nothing an agent sends may carry a data row.
 */
import * as fs from 'node:fs';
import type { RunningCoordinator } from '@fl/coordinator';
import {
  decodeWeights,
  sha256Hex,
  StatisticsMessageSchema,
  UpdateMessageSchema,
  type UpdateMessage,
  EvaluationMessageSchema,
  HandshakeSchema,
  type JobSpec,
} from '@fl/shared';
import type { ParticipantAgent } from '@fl/participant-agent';
import { AdminApi, DATA_DIR, evaluateModel, featuresOf, splitCsv, startAgent, tempDir, testCoordinator, type Split } from './harness';

jest.setTimeout(120_000);

describe('federated training of breast cancer diagnosis by three parties', () => {
  let coordinator: RunningCoordinator;
  let api: AdminApi;
  let split: Split;
  let agents: ParticipantAgent[];
  const sent: { agent: string; event: string; args: unknown[] }[] = [];
  const file = `${DATA_DIR}/breast_cancer.csv`;
  let jobId: string;
  let spec: JobSpec;

  beforeAll(async () => {
    coordinator = await testCoordinator();
    api = AdminApi.of(coordinator);
    split = splitCsv(file, 3, { seed: 7, holdout: 0.2, dir: tempDir('split') });
    agents = [];
    for (const [i, part] of split.parties.entries()) {
      const agent = await startAgent(coordinator, `hospital-${i + 1}`, part);
      agent.socket.onAnyOutgoing((event, ...args) => sent.push({ agent: `hospital-${i + 1}`, event, args }));
      agents.push(agent);
    }
    const job = await api.createJob({
      name: 'diagnosis',
      model: 'logistic',
      features: featuresOf(file, 'diagnosis'),
      target: 'diagnosis',
      positiveClass: 'malignant',
      rounds: 8,
      minParticipants: 3,
      roundDeadlineSeconds: 60,
      localEpochs: 2,
      batchSize: 16,
      learningRate: 0.1,
      l2: 0.001,
    });
    jobId = job.id;
    spec = job.spec;
    await coordinator.engine.whenFinished(jobId);
  });

  afterAll(async () => {
    agents?.forEach((a) => a.stop());
    await coordinator?.close();
  });

  it('completes every round with all three parties', async () => {
    const job = await api.job(jobId);
    expect(job.status).toBe('completed');
    expect(job.round).toBe(8);
    const rounds = await api.rounds(jobId);
    expect(rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const round of rounds) {
      expect(round.contributors.map((c) => c.participant).sort()).toEqual(['hospital-1', 'hospital-2', 'hospital-3']);
      expect(round.failures).toEqual([]);
      expect(round.metrics.trainLoss).toBeGreaterThan(0);
    }
    // training loss falls as the rounds go on
    expect(rounds[7].metrics.trainLoss).toBeLessThan(rounds[0].metrics.trainLoss);
  });

  it('evaluates every round\'s global model on the parties\' held-out rows, weighted by examples', async () => {
    const rounds = await api.rounds(jobId);
    for (const round of rounds) {
      expect(round.evaluation!.participants.sort()).toEqual(['hospital-1', 'hospital-2', 'hospital-3']);
      // each party holds out 20% of its 152, 152 and 151 training rows: 30 each
      expect(round.evaluation!.numExamples).toBe(90);
      expect(round.evaluation!.metrics.accuracy).toBeGreaterThan(0.5);
      expect(round.evaluation!.metrics.loss).toBeGreaterThan(0);
    }
    expect(rounds[7].evaluation!.metrics.accuracy).toBeGreaterThanOrEqual(0.9);
    expect(rounds[7].evaluation!.metrics.loss).toBeLessThan(rounds[0].evaluation!.metrics.loss);
    // Rounds 1 to 7 are evaluated with the next round's updates, the last in its own exchange.
    const evaluated = sent.flatMap((f) => (f.event === 'update' ? [(f.args[0] as UpdateMessage).header.evaluation?.round] : [])).filter((r) => r !== undefined);
    expect(evaluated.sort()).toEqual([1, 2, 3, 4, 5, 6, 7].flatMap((r) => [r, r, r]));
    expect(sent.filter((f) => f.event === 'evaluation')).toHaveLength(3);
  });

  it('uses global statistics: the preprocessing covers all parties\' rows', async () => {
    const job = await api.job(jobId);
    expect(job.preprocessing!.rows).toBe(split.rows.length - Math.round(split.rows.length * 0.2));
    expect(job.preprocessing!.target).toEqual({ type: 'binary', classes: ['benign', 'malignant'] });
    expect(job.preprocessing!.inputDim).toBe(30);
  });

  it('reaches at least 0.93 accuracy on the held-back 20%', async () => {
    const model = await api.model(jobId);
    expect(model.round).toBe(8);
    const { accuracy, n } = evaluateModel(model, spec, split.holdout);
    expect(n).toBe(114);
    expect(accuracy).toBeGreaterThanOrEqual(0.93);
  });

  it('serves the model as bytes whose SHA-256 is the one recorded with the round', async () => {
    const response = await fetch(`${coordinator.url}/api/jobs/${jobId}/model`, {
      headers: { authorization: `Bearer ${coordinator.adminToken}`, accept: 'application/octet-stream' },
    });
    const bytes = new Uint8Array(await response.arrayBuffer());
    const rounds = await api.rounds(jobId);
    expect(sha256Hex(bytes)).toBe(rounds[7].modelSha256);
    expect(response.headers.get('x-model-sha256')).toBe(rounds[7].modelSha256);
    expect(decodeWeights(bytes)!.length).toBe(31);
  });

  it('sends nothing but statistics, updates, evaluations and their headers: no data row leaves an agent', () => {
    expect(new Set(sent.map((f) => f.event))).toEqual(new Set(['statistics', 'update', 'evaluation']));
    const rowTexts = split.rows.map((r) => r.slice(0, -1));
    const frames = sent.map((f) => {
      expect(f.args).toHaveLength(1); // the message; the ack callback stays local
      const message = f.args[0];
      const schema = { statistics: StatisticsMessageSchema, update: UpdateMessageSchema, evaluation: EvaluationMessageSchema }[f.event]!;
      // the message matches the protocol's schema, and its top-level keys are exactly the protocol's
      const strict = schema.safeParse(message);
      expect(strict.success).toBe(true);
      expect(Object.keys(message as object).sort()).toEqual(f.event === 'update' ? ['header', 'signature', 'weights'] : ['header', 'signature']);
      return { event: f.event, message: message as { header: Record<string, unknown>; weights?: Buffer } };
    });
    for (const { event, message } of frames) {
      const header = JSON.stringify(message.header);
      if (event === 'evaluation') {
        expect(Object.keys(message.header).sort()).toEqual(['job', 'metrics', 'modelSha256', 'nonce', 'numExamples', 'participant', 'round', 'type']);
      }
      if (event === 'update') {
        const { evaluation, ...rest } = message.header;
        expect(Object.keys(rest).sort()).toEqual(['job', 'metrics', 'nonce', 'numSamples', 'participant', 'round', 'type', 'weightsSha256']);
        // an evaluation with the update is the same aggregate as one sent alone: counts and metrics of a model
        if (evaluation !== undefined) expect(Object.keys(evaluation as object).sort()).toEqual(['metrics', 'modelSha256', 'numExamples', 'round']);
        // the binary part is exactly one model: 30 weights and a bias
        expect(message.weights!.byteLength).toBe(31 * 4);
      }
      // no row appears: not even three consecutive raw values of any row
      const found = rowTexts.flatMap((row) =>
        row.slice(0, -2).map((_, j) => row.slice(j, j + 3).join(',')).filter((window) => header.includes(window)),
      );
      expect(found).toEqual([]);
    }
    // per-feature statistics are aggregates: one entry per feature, no lists of values
    const stats = frames.filter((f) => f.event === 'statistics');
    expect(stats).toHaveLength(3);
    for (const { message } of stats) {
      const header = message.header as { statistics: { features: { type: string }[] } };
      expect(header.statistics.features).toHaveLength(30);
      for (const f of header.statistics.features) expect(Object.keys(f).sort()).toEqual(['count', 'missing', 'name', 'sum', 'sumSquares', 'type']);
    }
    // handshakes carry a key, a timestamp, a nonce and the signature only
    for (const agent of agents) {
      let auth: { header: object } | undefined;
      (agent.socket.auth as (cb: (a: object) => void) => void)((a) => (auth = a as { header: object }));
      expect(HandshakeSchema.strict().safeParse(auth).success).toBe(true);
      expect(Object.keys(auth!.header).sort()).toEqual(['nonce', 'protocol', 'publicKey', 'timestamp', 'type']);
    }
  });

  it('keeps every global model version in the SQLite file', async () => {
    const file = `${coordinator.config.dataDir}/coordinator.sqlite`;
    expect(fs.statSync(file).size).toBeGreaterThan(0);
    for (let round = 0; round <= 8; round++) expect((await coordinator.store.getModel(jobId, round))?.round).toBe(round);
  });
});
