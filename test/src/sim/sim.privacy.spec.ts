/**
 * The simulator with the privacy options, end to end: secure aggregation costs
 * under one accuracy point against plain FedAvg on bundled data with the same
 * seed; a secure run in which parties really disconnect mid-round still
 * commits every round, and the store it keeps (--data-dir) passes
 * `fl-coordinator audit verify`.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { SqliteStore, STORE_FILE } from '@fl/coordinator';
import { DATA_DIR, tempDir } from '../harness';
import { COORDINATOR_CLI } from '../processes';
import { SimReportSchema, type SimReport } from './report';
import { simulate, type SimOptions } from './simulate';

jest.setTimeout(180_000);

const accuracy = (report: SimReport) => (report.final.test as { accuracy: number }).accuracy;

describe('fl-sim with secure aggregation', () => {
  it('costs under 1 accuracy point against plain FedAvg: breast cancer, 5 parties, Dirichlet(0.5) label skew, 30 rounds', async () => {
    // Prepare: the settings of the plain accuracy test of this data set
    const options: SimOptions = {
      data: path.join(DATA_DIR, 'breast_cancer.csv'),
      target: 'diagnosis',
      model: 'logistic',
      parties: 5,
      partition: { kind: 'dirichlet', alpha: 0.5 },
      rounds: 30,
      batchSize: 32,
      learningRate: 0.05,
      seed: 42,
    };
    // Execute
    const plain = await simulate(options);
    const secure = await simulate({ ...options, secureAggregation: {} });
    // Assert: every party in every round of both, and the final accuracies within one point
    expect(SimReportSchema.safeParse(secure).error).toBeUndefined();
    expect(secure.config.secureAggregation).toEqual({ neighbours: 8, range: 1, maxWeight: 1000, statisticsLevels: 2 ** 20 });
    expect(secure.rounds.map((r) => r.participants)).toEqual(Array(30).fill(5));
    expect(accuracy(plain)).toBeGreaterThan(0.9);
    expect(Math.abs(accuracy(secure) - accuracy(plain))).toBeLessThan(0.01);
  });

  describe('with parties dropping out and the store kept', () => {
    const dir = tempDir('sim-privacy');
    const store = path.join(dir, 'store');
    let report: SimReport;
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    beforeAll(async () => {
      report = await simulate({
        data: path.join(DATA_DIR, 'breast_cancer.csv'),
        target: 'diagnosis',
        parties: 6,
        rounds: 6,
        secureAggregation: { neighbours: 4 },
        dropRate: 0.2,
        dataDir: store,
        seed: 42,
      });
    });

    it('commits every round, with the parties that dropped out left out of them', () => {
      // Assert: the seed makes parties drop; every round committed regardless, with at least 3 masked inputs
      expect(SimReportSchema.safeParse(report).error).toBeUndefined();
      expect(report.config).toMatchObject({ dropRate: 0.2, dataDir: store, secureAggregation: { neighbours: 4 } });
      expect(report.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6]);
      const dropped = report.rounds.flatMap((r) => r.dropped ?? []);
      expect(dropped.length).toBeGreaterThan(0);
      for (const round of report.rounds) expect(round.participants).toBeGreaterThanOrEqual(3);
      expect(report.rounds.some((r) => r.participants < 6)).toBe(true);
      expect(accuracy(report)).toBeGreaterThan(0.9);
    });

    it('agrees with the coordinator\'s round records: each failure is a disconnect of a party that dropped out of that round', async () => {
      // Assert: which parties fail a committed round depends on the step they dropped at (only the masked-input step's failures are recorded)
      const db = await SqliteStore.open(path.join(store, STORE_FILE), { readonly: true });
      try {
        const [job] = await db.listJobs();
        const rounds = await db.listRounds(job.id);
        expect(rounds.map((r) => r.contributors.length)).toEqual(report.rounds.map((r) => r.participants));
        for (const round of rounds) {
          const dropped = report.rounds[round.round - 1].dropped;
          for (const failure of round.failures) {
            expect(dropped).toContain(failure.participant);
            expect(failure.reason).toBe('disconnected');
          }
        }
      } finally {
        await db.close();
      }
    });

    it('keeps a store that `fl-coordinator audit verify --data-dir` checks', async () => {
      // Execute
      const { stdout } = await promisify(execFile)(process.execPath, [COORDINATOR_CLI, 'audit', 'verify', '--data-dir', store]);
      // Assert: every secure round recomputed from the masked inputs and the rebuilt secrets
      expect(stdout).toMatch(/6 rounds, 6 recomputed from \d+ retained updates, models match/);
    });
  });
});
