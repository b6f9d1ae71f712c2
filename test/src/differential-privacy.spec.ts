/**
 * Differential privacy through a running coordinator and four real agents,
 * under secure aggregation: each site clips its update and adds its share of
 * discrete Gaussian noise before masking; the API reports ε after every round;
 * the job stops before a round would exceed its budget; `audit verify`
 * recomputes the noisy rounds; a job that asks for DP with sample weighting is
 * refused. Without secure aggregation the coordinator clips the updates and
 * adds the noise to their sum (central DP), from a seed the audit log commits
 * to and `audit verify` recomputes the round with.
 */
import * as fs from 'node:fs';
import Database from 'better-sqlite3';
import * as path from 'node:path';
import { SqliteStore, STORE_FILE, storeAuditSource, toArray, verifyStore, type RunningCoordinator } from '@fl/coordinator';
import {
  AuditRecordSchema,
  BundleSource,
  CENTRAL_NOISE,
  centralUpdate,
  decodeWeights,
  epsilonAfter,
  verifyAudit,
  writeBundle,
  type AuditData,
  type JobView,
  type RoundView,
} from '@fl/shared';
import { AdminApi, DATA_DIR, declaredFeatures, splitCsv, startAgent, tempDir, testCoordinator } from './harness';

jest.setTimeout(600_000);

const file = path.join(DATA_DIR, 'breast_cancer.csv');
const dp = { noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 };
// A budget between the ε of two rounds and that of three: the job must stop after two.
const budget = (epsilonAfter(dp, 2) + epsilonAfter(dp, 3)) / 2;
const spec = {
  model: 'logistic' as const,
  // A secure job's statistics are summed over declared bounds and classes.
  ...declaredFeatures(file, 'diagnosis'),
  target: 'diagnosis',
  rounds: 10,
  minParticipants: 3,
  evaluateEvery: 0,
  strategy: { name: 'fedavg' as const, weighting: 'uniform' as const },
  secureAggregation: { range: 2, neighbours: 4 },
  dp: { ...dp, epsilonBudget: budget },
};

describe('differential privacy in a running federation', () => {
  let coordinator: RunningCoordinator;
  let job: JobView;
  let rounds: RoundView[];
  let central: JobView;
  let centralRounds: RoundView[];
  const refusals: { status: number; body: unknown }[] = [];

  beforeAll(async () => {
    coordinator = await testCoordinator();
    const split = splitCsv(file, 4, { seed: 3, holdout: 0, dir: tempDir('dp-data') });
    const agents = await Promise.all(split.parties.map((party, i) => startAgent(coordinator, `site-${i}`, party)));
    const api = AdminApi.of(coordinator);
    try {
      const { secureAggregation: _, ...clear } = spec;
      refusals.push(await api.request('POST', '/api/jobs', { ...clear, strategy: { name: 'median' } }));
      refusals.push(await api.request('POST', '/api/jobs', { ...spec, strategy: { name: 'fedavg' } }));
      const { target: _target, dp: _dp, strategy: _strategy, ...unsupervised } = spec;
      refusals.push(await api.request('POST', '/api/jobs', { ...unsupervised, model: 'kmeans', k: 2 }));
      const created = await api.createJob(spec);
      await coordinator.engine.whenFinished(created.id);
      job = await api.job(created.id);
      rounds = await api.rounds(created.id);
      // Central DP: the same job without secure aggregation, two rounds, no budget
      const plain = await api.createJob({ ...clear, rounds: 2, dp });
      await coordinator.engine.whenFinished(plain.id);
      central = await api.job(plain.id);
      centralRounds = await api.rounds(plain.id);
    } finally {
      agents.forEach((a) => a.stop());
      await coordinator.close();
    }
  });

  it('refuses central DP with a strategy that aggregates no sum, and DP with sample weighting, naming why', () => {
    expect(refusals.slice(0, 2).map((r) => r.status)).toEqual([400, 400]);
    expect(JSON.stringify(refusals[0].body)).toMatch(/central differential privacy adds its noise to the sum of the updates, which median does not aggregate/);
    expect(JSON.stringify(refusals[1].body)).toMatch(/weighting 'uniform'/);
  });

  it('refuses a kmeans job with secure aggregation at creation, with its code and why', () => {
    // Assert: its initialisation round needs each site's candidate centres, which masking would hide
    expect(refusals[2].status).toBe(400);
    expect(refusals[2].body).toEqual({
      error: { code: 'VALIDATION_FAILED', message: expect.stringMatching(/^strategy\.name: k-means cannot run under secure aggregation: its first round gathers each site's candidate centres/) },
    });
  });

  it('stops before a round would exceed the budget, and says so', async () => {
    expect(job.status).toBe('stopped');
    expect(job.round).toBe(2);
    expect(job.error).toMatch(/privacy budget: round 3 would take ε to/);
    expect(job.privacy).toEqual({ epsilon: epsilonAfter(dp, 2), delta: 1e-5, epsilonBudget: budget });
    expect(job.privacy!.epsilon).toBeLessThanOrEqual(budget);
  });

  it('reports ε after every round', async () => {
    expect(rounds.map((r) => r.privacy)).toEqual([
      { epsilon: epsilonAfter(dp, 1), delta: 1e-5 },
      { epsilon: epsilonAfter(dp, 2), delta: 1e-5 },
    ]);
    expect(rounds[1].privacy!.epsilon).toBeGreaterThan(rounds[0].privacy!.epsilon);
  });

  it('audit verify recomputes the noisy secure rounds', async () => {
    const store = await SqliteStore.open(path.join(coordinator.config.dataDir, STORE_FILE), { readonly: true });
    try {
      const report = await verifyStore(store, path.join(coordinator.config.dataDir, STORE_FILE));
      expect(report.failure).toBeUndefined();
      expect(report.lines).toContain(`job ${job.id}: 2 rounds, 2 recomputed from 8 retained updates, models match; statistics recomputed from 4 masked inputs`);
    } finally {
      await store.close();
    }
  });

  describe('central DP, without secure aggregation', () => {
    const storeFile = () => path.join(coordinator.config.dataDir, STORE_FILE);

    it('reports ε after every round', () => {
      expect(central.status).toBe('completed');
      expect(centralRounds.map((r) => r.privacy?.epsilon)).toEqual([epsilonAfter(dp, 1), epsilonAfter(dp, 2)]);
    });

    it('commits the clipped updates\' mean plus noise from a seed the log commits to, kept with the updates', async () => {
      const store = await SqliteStore.open(storeFile(), { readonly: true });
      try {
        // Prepare: round 1's record, its seed and its retained updates
        const committed = (await toArray(store.auditRecords()))
          .map(({ text }) => AuditRecordSchema.parse(JSON.parse(text)))
          .find((r) => r.kind === 'model.committed' && (r.data as AuditData<'model.committed'>).job === central.id && (r.data as AuditData<'model.committed'>).round === 1)!
          .data as AuditData<'model.committed'>;
        const seed = (await store.getRetainedUpdate(central.id, 1, CENTRAL_NOISE, committed.centralNoise!.seedSha256))!;
        const initial = (await store.getModel(central.id, 0))!.weights;
        const updates: Float32Array[] = [];
        for (const c of committed.contributors) updates.push(decodeWeights((await store.getRetainedUpdate(central.id, 1, c.participant, c.sha256))!)!);
        // Execute
        const noisy = centralUpdate(initial, updates, dp, seed).weights;
        const clean = centralUpdate(initial, updates, { ...dp, noiseMultiplier: 0 }, seed).weights;
        // Assert: the model is the noisy mean (σ = z·C / 4 sites per coordinate), far from the clean one
        const model = (await store.getModel(central.id, 1))!.weights;
        expect(seed).toHaveLength(32);
        expect(updates).toHaveLength(4);
        expect(Math.max(...model.map((w, i) => Math.abs(w - noisy[i])))).toBeLessThan(1e-6);
        expect(Math.max(...model.map((w, i) => Math.abs(w - clean[i])))).toBeGreaterThan(0.1);
      } finally {
        await store.close();
      }
    });

    it('audit verify recomputes its rounds with the seed, and fails when the seed changes', async () => {
      const copy = path.join(tempDir('central-dp'), STORE_FILE);
      fs.copyFileSync(storeFile(), copy);
      const copied = await SqliteStore.open(copy, { readonly: true });
      const db = new Database(copy);
      try {
        const report = await verifyStore(copied, copy);
        expect(report.failure).toBeUndefined();
        expect(report.lines).toContain(`job ${central.id}: 2 rounds, 2 recomputed from 8 retained updates, models match`);
        const row = db.prepare('SELECT weights FROM updates WHERE job = ? AND round = 2 AND participant = ?').get(central.id, CENTRAL_NOISE) as { weights: Buffer };
        const changed = Buffer.from(row.weights);
        changed[0] ^= 0x01;
        db.prepare('UPDATE updates SET weights = ? WHERE job = ? AND round = 2 AND participant = ?').run(changed, central.id, CENTRAL_NOISE);
        const tampered = await verifyStore(copied, copy);
        expect(tampered.failure?.reason).toMatch(/its bytes do not hash to [0-9a-f]{64}, the SHA-256 in audit record \d+/);
      } finally {
        await copied.close();
        db.close();
      }
    });

    it("goes into a full audit export, which recomputes its rounds, and never into a participant's", async () => {
      const store = await SqliteStore.open(storeFile(), { readonly: true });
      const dir = tempDir('central-dp-bundles');
      try {
        // Execute
        await writeBundle(storeAuditSource(store, storeFile()), path.join(dir, 'full'));
        await writeBundle(storeAuditSource(store, storeFile()), path.join(dir, 'site-0'), { participant: 'site-0' });
        // Assert: the seed's file is in the full export only; both verify, the full one recomputing the rounds
        const seedFiles = (bundle: string) => fs.readdirSync(path.join(dir, bundle, 'updates', central.id, '1')).filter((f) => f.startsWith(encodeURIComponent(CENTRAL_NOISE)));
        expect(seedFiles('full')).toHaveLength(1);
        expect(fs.existsSync(path.join(dir, 'site-0', 'updates', central.id, '1')) ? seedFiles('site-0') : []).toEqual([]);
        const full = await verifyAudit(new BundleSource(path.join(dir, 'full')));
        expect(full.failure).toBeUndefined();
        expect(full.lines).toContain(`job ${central.id}: 2 rounds, 2 recomputed from 8 retained updates, models match`);
        expect((await verifyAudit(new BundleSource(path.join(dir, 'site-0')))).failure).toBeUndefined();
      } finally {
        await store.close();
      }
    });
  });
});
