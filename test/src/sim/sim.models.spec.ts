/**
 * The source's models end to end on the bundled data, with fixed seeds: a real
 * coordinator and real agents train a linear SVM (binary and one-vs-rest), and
 * the global model must score on the held-out rows within 2 accuracy points of
 * the same SVM trained centrally on the pooled rows; and federated k-means,
 * whose held-out inertia must be within 5% of k-means on the pooled rows.
 */
import * as path from 'node:path';
import { DATA_DIR } from '../harness';
import { SimReportSchema, type SimReport } from './report';
import { simulate } from './simulate';

jest.setTimeout(180_000);

const data = (file: string) => path.join(DATA_DIR, file);

function metrics(report: SimReport): { federated: Record<string, number | null>; centralized: Record<string, number | null> } {
  expect(SimReportSchema.safeParse(report).error).toBeUndefined();
  return { federated: report.final.test as Record<string, number | null>, centralized: report.centralized.test as Record<string, number | null> };
}

describe('a linear SVM trained federated tracks the centralized one', () => {
  it('breast cancer, two classes, 5 parties with Dirichlet(0.5) label skew: accuracy within 2 points, AUC and F1 on the margins', async () => {
    // Execute
    const report = await simulate({
      data: data('breast_cancer.csv'),
      target: 'diagnosis',
      model: 'svm',
      parties: 5,
      partition: { kind: 'dirichlet', alpha: 0.5 },
      rounds: 30,
      batchSize: 32,
      learningRate: 0.05,
      l2: 0.001,
      seed: 42,
    });

    // Assert
    expect(report.config.positiveClass).toBe('malignant');
    const { federated, centralized } = metrics(report);
    expect(Object.keys(federated).sort()).toEqual(['accuracy', 'auc', 'f1']);
    expect(centralized.accuracy).toBeGreaterThan(0.93);
    expect(Math.abs(federated.accuracy! - centralized.accuracy!)).toBeLessThanOrEqual(0.02);
    expect(federated.auc).toBeGreaterThan(0.95);
    expect(federated.f1).toBeGreaterThan(0.9);
  });

  it('wine, three classes one-vs-rest, 3 parties: accuracy within 2 points', async () => {
    // Execute
    const report = await simulate({ data: data('wine.csv'), target: 'cultivar', model: 'svm', parties: 3, seed: 42 });

    // Assert
    const { federated, centralized } = metrics(report);
    expect(Object.keys(federated).sort()).toEqual(['accuracy', 'macroF1']);
    expect(centralized.accuracy).toBeGreaterThan(0.9);
    expect(Math.abs(federated.accuracy! - centralized.accuracy!)).toBeLessThanOrEqual(0.02);
  });

  it('credit (missing values, categories), two classes, one party per Home value, lr 0.02: accuracy within 2 points', async () => {
    // Execute
    const report = await simulate({
      data: data('credit_data.csv'),
      target: 'Status',
      model: 'svm',
      positiveClass: 'bad',
      partition: { kind: 'column', column: 'Home' },
      // The squared hinge's gradient grows with the error: at the defaults (lr 0.1, batches of 16) seed 3 of 1 to 6 missed by 12 points.
      learningRate: 0.02,
      batchSize: 32,
      seed: 42,
    });

    // Assert: better than always answering "good" (72% of the rows)
    const { federated, centralized } = metrics(report);
    expect(centralized.accuracy).toBeGreaterThan(0.75);
    expect(Math.abs(federated.accuracy! - centralized.accuracy!)).toBeLessThanOrEqual(0.02);
  });
});

describe('federated k-means tracks k-means on the pooled rows', () => {
  /** The final held-out inertia, federated and centralized, and the report's cluster sizes. */
  function inertia(report: SimReport): { federated: number; centralized: number; sizes: number[] } {
    expect(SimReportSchema.safeParse(report).error).toBeUndefined();
    const [federated, centralized] = [report.final.test, report.centralized.test] as { inertia: number; clusterSizes: number[] }[];
    return { federated: federated.inertia, centralized: centralized.inertia, sizes: federated.clusterSizes };
  }

  it.each([
    // [file, target (left out of the features) or none, k, partition, parties]
    ['wine.csv', 'cultivar', 3, { kind: 'iid' }, 3],
    ['breast_cancer.csv', 'diagnosis', 2, { kind: 'dirichlet', alpha: 0.5 }, 5],
    ['credit_data.csv', 'Status', 4, { kind: 'column', column: 'Home' }, undefined],
    ['diabetes.csv', 'none', 3, { kind: 'iid' }, 3],
  ] as const)('%s, target %s, k = %i, %j: held-out inertia within 5%', async (file, given, k, partition, parties) => {
    // Execute
    const target = given === 'none' ? undefined : given;
    const report = await simulate({ data: data(file), target, model: 'kmeans', k, partition, parties, rounds: 10, seed: 42 });

    // Assert: the target is no feature; every held-out row is in one of k clusters
    if (target) expect(report.config.features.map((f) => f.name)).not.toContain(target);
    const { federated, centralized, sizes } = inertia(report);
    expect(sizes).toHaveLength(k);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(report.data.test);
    // At most 5% above: below is better, and either run may end in a poorer local optimum.
    expect((federated - centralized) / centralized).toBeLessThanOrEqual(0.05);
  });
});
