/**
 * Differential privacy through a running coordinator and four real agents,
 * under secure aggregation: each site clips its update and adds its share of
 * discrete Gaussian noise before masking; the API reports ε after every round;
 * the job stops before a round would exceed its budget; `audit verify`
 * recomputes the noisy rounds; a job that asks for DP without secure
 * aggregation, or with sample weighting, is refused.
 */
import * as path from 'node:path';
import { SqliteStore, STORE_FILE, verifyStore, type RunningCoordinator } from '@fl/coordinator';
import { epsilonAfter, type JobView, type RoundView } from '@fl/shared';
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
  const refusals: { status: number; body: unknown }[] = [];

  beforeAll(async () => {
    coordinator = await testCoordinator();
    const split = splitCsv(file, 4, { seed: 3, holdout: 0, dir: tempDir('dp-data') });
    const agents = await Promise.all(split.parties.map((party, i) => startAgent(coordinator, `site-${i}`, party)));
    const api = AdminApi.of(coordinator);
    try {
      const { secureAggregation: _, ...clear } = spec;
      refusals.push(await api.request('POST', '/api/jobs', clear));
      refusals.push(await api.request('POST', '/api/jobs', { ...spec, strategy: { name: 'fedavg' } }));
      const created = await api.createJob(spec);
      await coordinator.engine.whenFinished(created.id);
      job = await api.job(created.id);
      rounds = await api.rounds(created.id);
    } finally {
      agents.forEach((a) => a.stop());
      await coordinator.close();
    }
  });

  it('refuses DP without secure aggregation, or with sample weighting, naming why', async () => {
    expect(refusals.map((r) => r.status)).toEqual([400, 400]);
    expect(JSON.stringify(refusals[0].body)).toMatch(/differential privacy needs secureAggregation/);
    expect(JSON.stringify(refusals[1].body)).toMatch(/weighting 'uniform'/);
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
});
