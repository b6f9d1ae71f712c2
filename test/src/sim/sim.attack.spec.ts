/**
 * One dishonest party out of five, through the real protocol, against FedAvg:
 * implausible statistics leave it out of the job, implausible updates out of
 * their round, a row count inflated below the job's limit buys it nothing the
 * honest update did not already; the job completes within 3 accuracy points of
 * the same run without an attack. Fixed seed: the same figures every run.
 */
import * as path from 'node:path';
import { DATA_DIR } from '../harness';
import { formatAttack, parseAttack } from './attack';
import { SimReportSchema, type SimReport } from './report';
import { simulate, type SimOptions } from './simulate';

jest.setTimeout(180_000);

const options: SimOptions = { data: path.join(DATA_DIR, 'breast_cancer.csv'), target: 'diagnosis', model: 'logistic', parties: 5, rounds: 30, seed: 42 };
const accuracy = (report: SimReport) => (report.final.test as { accuracy: number }).accuracy;

describe('FedAvg with one attacker out of five, breast cancer', () => {
  let clean: number;

  beforeAll(async () => {
    clean = accuracy(await simulate(options));
  });

  it.each([
    ['inflate-samples:1000000000', { excludedFromJob: ['p1 IMPLAUSIBLE_SAMPLES'], updatesLeftOut: {} }],
    ['inflate-samples:1000000', { excludedFromJob: [], updatesLeftOut: {} }],
    ['huge-sums:1e300', { excludedFromJob: ['p1 IMPLAUSIBLE_STATISTICS'], updatesLeftOut: {} }],
    ['extra-class', { excludedFromJob: ['p1 UNDECLARED_CLASS'], updatesLeftOut: {} }],
    ['nan', { excludedFromJob: [], updatesLeftOut: { NON_FINITE: 30 } }],
    ['huge-weights:3e38', { excludedFromJob: [], updatesLeftOut: { IMPLAUSIBLE_WEIGHTS: 30 } }],
    ['huge-weights:-1e30', { excludedFromJob: [], updatesLeftOut: { IMPLAUSIBLE_WEIGHTS: 30 } }],
  ])('%s: the job completes within 3 points of the run without attack', async (attack, outcome) => {
    // Execute (simulate rejects unless the job completed)
    const report = await simulate({ ...options, attack: parseAttack(attack), attackers: 1 });
    // Assert
    expect(SimReportSchema.safeParse(report).error).toBeUndefined();
    expect(report.config.attack).toEqual({ kind: formatAttack(parseAttack(attack)), attackers: 1 });
    expect(report.attack).toEqual(outcome);
    expect(report.rounds).toHaveLength(30);
    expect(Math.abs(accuracy(report) - clean)).toBeLessThanOrEqual(0.03);
  });
});
