/**
 * The simulator end to end on the bundled data sets, with fixed seeds: a real
 * coordinator and real agents train each model federated, and the global model
 * must score on the held-out rows within a few points of the same model trained
 * centrally on the pooled rows.
 *
 * Held-out sets of 36 to 891 rows make one row worth up to 2.8 points, so the
 * settings were chosen where the gap stays within the threshold not only for
 * the seed used here but for every seed from 1 to 12 as well (measured with fl-sim).
 */
import * as path from 'node:path';
import { DATA_DIR } from '../harness';
import { SimReportSchema, type SimReport } from './report';
import { simulate } from './simulate';

jest.setTimeout(120_000);

const data = (file: string) => path.join(DATA_DIR, file);

/** Checks the report against its schema and returns the final federated and centralized values of a metric. */
function compare(report: SimReport, metric: 'accuracy' | 'r2'): { federated: number; centralized: number } {
  expect(SimReportSchema.safeParse(report).error).toBeUndefined();
  const value = (test: SimReport['final']['test']) => (test as Record<string, number | null>)[metric]!;
  return { federated: value(report.final.test), centralized: value(report.centralized.test) };
}

describe('federated training tracks centralized training', () => {
  it('breast cancer, logistic, 5 parties with Dirichlet(0.5) label skew, 30 rounds: accuracy within 2 points', async () => {
    // Execute
    const report = await simulate({
      data: data('breast_cancer.csv'),
      target: 'diagnosis',
      model: 'logistic',
      parties: 5,
      partition: { kind: 'dirichlet', alpha: 0.5 },
      rounds: 30,
      // Batches of 32 at lr 0.05: with the defaults (16, 0.1), seed 10 of the 13 tried missed by 1.5 points.
      batchSize: 32,
      learningRate: 0.05,
      seed: 42,
    });
    // Assert: every party took part in every round, and the label mix really is skewed
    expect(report.rounds.map((r) => r.participants)).toEqual(Array(30).fill(5));
    const malignantShares = report.partition.map((p) => p.labelCounts.malignant / p.rows);
    expect(Math.max(...malignantShares) - Math.min(...malignantShares)).toBeGreaterThan(0.4);
    const { federated, centralized } = compare(report, 'accuracy');
    expect(centralized).toBeGreaterThan(0.93);
    expect(Math.abs(federated - centralized)).toBeLessThanOrEqual(0.02);
  });

  it('wine, softmax, 3 parties: accuracy within 3 points', async () => {
    // Execute
    const report = await simulate({ data: data('wine.csv'), target: 'cultivar', model: 'softmax', parties: 3, seed: 42 });
    // Assert
    expect(report.config.features).toHaveLength(13);
    const { federated, centralized } = compare(report, 'accuracy');
    expect(centralized).toBeGreaterThan(0.9);
    expect(Math.abs(federated - centralized)).toBeLessThanOrEqual(0.03);
  });

  it('diabetes, linear, 3 parties: R² within 0.05', async () => {
    // Execute
    const report = await simulate({
      data: data('diabetes.csv'),
      target: 'progression',
      model: 'linear',
      parties: 3,
      // Quieter SGD than the defaults: the gap stayed under 0.01 for every seed tried, against 0.04.
      batchSize: 32,
      learningRate: 0.05,
      seed: 42,
    });
    // Assert: errors are in the target's units (progression spans about 25 to 346)
    const { federated, centralized } = compare(report, 'r2');
    expect(centralized).toBeGreaterThan(0.35);
    expect(Math.abs(federated - centralized)).toBeLessThanOrEqual(0.05);
    const final = report.final.test as { rmse: number; mae: number };
    expect(final.rmse).toBeGreaterThan(30);
    expect(final.rmse).toBeLessThan(80);
    expect(final.mae).toBeLessThanOrEqual(final.rmse);
  });

  it('credit (missing values, categories), logistic, one party per Home value: accuracy within 2 points', async () => {
    // Execute
    const report = await simulate({
      data: data('credit_data.csv'),
      target: 'Status',
      model: 'logistic',
      positiveClass: 'bad',
      partition: { kind: 'column', column: 'Home' },
      seed: 42,
    });
    // Assert: one party per value of Home, the rows missing it in a party of their own
    expect(report.partition.map((p) => p.value)).toEqual(['ignore', 'other', 'owner', 'parents', 'priv', 'rent', null]);
    expect(report.partition.reduce((n, p) => n + p.rows, 0)).toBe(report.data.train);
    expect(report.config.features.filter((f) => f.type === 'categorical').map((f) => f.name)).toEqual(['Home', 'Marital', 'Records', 'Job']);
    const { federated, centralized } = compare(report, 'accuracy');
    // better than always answering "good" (72% of the rows)
    expect(centralized).toBeGreaterThan(0.75);
    expect(Math.abs(federated - centralized)).toBeLessThanOrEqual(0.02);
  });
});
