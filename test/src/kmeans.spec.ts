/**
 * Federated k-means through a running coordinator and three real agents on the
 * bundled wine data, with no target: the initialisation round and the Lloyd
 * rounds, the round metrics the dashboard charts (the sites' inertia, the rows
 * per cluster), the model served by the API, and `audit verify` recomputing
 * every round from the stored updates and failing on a changed one.
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import Database from 'better-sqlite3';
import { SqliteStore, STORE_FILE, verifyStore, type RunningCoordinator } from '@fl/coordinator';
import { inertiaPerRow, kmeansInitialised, strategyOf } from '@fl/shared';
import { AdminApi, DATA_DIR, featuresOf, splitCsv, startAgent, tempDir, testCoordinator } from './harness';

jest.setTimeout(300_000);

const ROUNDS = 5;
const K = 3;
const file = path.join(DATA_DIR, 'wine.csv');

describe('federated k-means in a running federation', () => {
  let coordinator: RunningCoordinator;
  let jobId: string;
  let model: Awaited<ReturnType<ReturnType<typeof AdminApi.of>['model']>>;
  const logs: string[] = [];

  beforeAll(async () => {
    coordinator = await testCoordinator();
    const split = splitCsv(file, 3, { seed: 5, holdout: 0, dir: tempDir('kmeans-data') });
    const agents = await Promise.all(split.parties.map((party, i) => startAgent(coordinator, `site-${i}`, party, { log: (m) => logs.push(m) })));
    try {
      // Every column a feature, cultivar left out: k-means has no target.
      const job = await AdminApi.of(coordinator).createJob({
        model: 'kmeans',
        k: K,
        features: featuresOf(file, 'cultivar'),
        rounds: ROUNDS,
        minParticipants: 3,
        evaluationFraction: 0.2,
      });
      jobId = job.id;
      await coordinator.engine.whenFinished(job.id);
      model = await AdminApi.of(coordinator).model(jobId);
    } finally {
      agents.forEach((a) => a.stop());
      await coordinator.close();
    }
  });

  it('runs the initialisation round and the Lloyd rounds with every site, the model converging', async () => {
    const store = await SqliteStore.open(path.join(coordinator.config.dataDir, STORE_FILE), { readonly: true });
    try {
      await expectConverged(store);
    } finally {
      await store.close();
    }
    expect(logs.filter((line) => /ignored|error:/.test(line))).toEqual([]);
  });

  async function expectConverged(store: SqliteStore): Promise<void> {
    const job = (await store.getJob(jobId))!;
    expect({ status: job.status, round: job.round }).toEqual({ status: 'completed', round: ROUNDS });
    expect(strategyOf(job.spec)).toEqual({ name: 'kmeans', k: K });
    expect(job.preprocessing!.target).toEqual({ type: 'none' });
    const d = job.preprocessing!.inputDim;
    const rounds = await store.listRounds(jobId);
    for (const round of rounds) expect(round.contributors).toHaveLength(3);
    expect(kmeansInitialised((await store.getModel(jobId, 1))!.weights, { k: K, d })).toBe(true);
    // The held-out inertia the sites report, round by round: the last within 2% of the best.
    const inertia = rounds.map((r) => r.evaluation?.metrics.inertia).filter((v): v is number => v !== undefined);
    expect(inertia.length).toBeGreaterThanOrEqual(ROUNDS - 1);
    expect(inertia[inertia.length - 1]).toBeLessThanOrEqual(Math.min(...inertia) * 1.02);
    // Converged: the last Lloyd round moves no centre by more than 0.05 standard deviations.
    const [before, after] = [(await store.getModel(jobId, ROUNDS - 1))!.weights, (await store.getModel(jobId, ROUNDS))!.weights];
    for (let i = 0; i < K * d; i++) expect(Math.abs(after[i] - before[i])).toBeLessThan(0.05);
    // Rows per cluster, from the clusters' shares: all training rows, in k clusters.
    const last = rounds[rounds.length - 1];
    const sizes = Array.from({ length: K }, (_, c) => last.metrics[`clusterRows${c + 1}`]);
    expect(sizes.every((n) => n > 0)).toBe(true);
    const rows = last.contributors.reduce((n, c) => n + c.numSamples, 0);
    expect(Math.abs(sizes.reduce((a, b) => a + b, 0) - rows)).toBeLessThanOrEqual(K);
  }

  it('serves the model with its layout: k centres in the standardized feature space', async () => {
    expect(model.shape).toEqual({ kind: 'kmeans', inputDim: 13, outputDim: K });
    expect(model.target).toBeUndefined();
    expect(model.weights).toHaveLength(K * 13 + K);
    // Standardized features: centres of well-separated cultivars lie within a few deviations, and cluster the rows well.
    const centres = new Float32Array(model.weights);
    expect(Math.max(...Array.from(centres.subarray(0, K * 13), Math.abs))).toBeLessThan(4);
    expect(inertiaPerRow(centres, K, new Float32Array(13), 1, 13)).toBeGreaterThan(0);
  });

  describe('audit verify', () => {
    let copy: string;
    let db: Database.Database;
    let store: SqliteStore;

    beforeAll(async () => {
      copy = path.join(tempDir('kmeans-audit'), STORE_FILE);
      fs.copyFileSync(path.join(coordinator.config.dataDir, STORE_FILE), copy);
      db = new Database(copy);
      store = await SqliteStore.open(copy, { readonly: true });
    });

    afterAll(async () => {
      await store?.close();
      db?.close();
    });

    it('recomputes every round, the initialisation included, from the retained updates', async () => {
      const report = await verifyStore(store, copy);
      expect(report.failure).toBeUndefined();
      expect(report.counts.roundsRecomputed).toBe(ROUNDS);
      expect(report.lines).toContain(`job ${jobId}: ${ROUNDS} rounds, ${ROUNDS} recomputed from ${3 * ROUNDS} retained updates, models and strategy states match (kmeans)`);
    });

    it.each([1, 3])('fails when a stored update of round %i changes, naming it', async (round) => {
      const u = db.prepare("SELECT sha256, weights FROM updates WHERE job = ? AND round = ? AND participant = 'site-1'").get(jobId, round) as { sha256: string; weights: Buffer };
      const changed = Buffer.from(u.weights);
      changed[5] ^= 0x01;
      const write = db.prepare("UPDATE updates SET weights = ? WHERE job = ? AND round = ? AND participant = 'site-1' AND sha256 = ?");
      write.run(changed, jobId, round, u.sha256);
      try {
        expect((await verifyStore(store, copy)).failure?.where).toContain(`update of site-1, round ${round} of job ${jobId}`);
      } finally {
        write.run(u.weights, jobId, round, u.sha256);
      }
    });
  });
});
