/**
 * One dishonest party out of five, through the real protocol, against FedAvg:
 * implausible statistics leave it out of the job, implausible updates out of
 * their round, a row count inflated below the job's limit buys it nothing the
 * honest update did not already; the job completes within 3 accuracy points of
 * the same run without an attack. A sign-flipped update of plausible size
 * passes every check and wrecks FedAvg; the robust strategies hold within 3
 * points. Statistics whose means are moved within the plausibility bounds pass
 * too, and wreck every strategy alike: all sites standardize with them.
 * Fixed seed: the same figures every run (docs/robustness.md).
 */
import * as path from 'node:path';
import { DATA_DIR } from '../harness';
import { formatAttack, parseAttack } from './attack';
import { SimReportSchema, type SimReport } from './report';
import { simulate, type SimOptions } from './simulate';
import { parseStrategy } from './strategy';

jest.setTimeout(180_000);

const options: SimOptions = { data: path.join(DATA_DIR, 'breast_cancer.csv'), target: 'diagnosis', model: 'logistic', parties: 5, rounds: 30, seed: 42 };
const accuracy = (report: SimReport) => (report.final.test as { accuracy: number }).accuracy;

/** FedAvg's accuracy without an attack, the yardstick of every test below. */
let clean: number;

beforeAll(async () => {
  clean = accuracy(await simulate(options));
});

describe('FedAvg with one attacker out of five, breast cancer', () => {
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

describe('one attacker of five sending sign-flip:10, breast cancer', () => {
  const signFlip = { attack: parseAttack('sign-flip:10'), attackers: 1 };

  it('passes every plausibility check and takes FedAvg far below the run without attack', async () => {
    const report = await simulate({ ...options, ...signFlip });
    expect(report.attack).toEqual({ excludedFromJob: [], updatesLeftOut: {} });
    expect(clean).toBeGreaterThan(0.9);
    expect(accuracy(report)).toBeLessThan(clean - 0.3);
  });

  it.each(['median', 'trimmed-mean:beta=0.2', 'krum:f=1'])(
    '%s: within 3 points of the run without attack, FedAvg\'s and its own',
    async (text) => {
      // Arrange
      const strategy = parseStrategy(text);
      // Execute
      const attacked = await simulate({ ...options, strategy, ...signFlip });
      const unattacked = accuracy(await simulate({ ...options, strategy }));
      // Assert: nothing was left out, so the strategy alone held the attacker off
      expect(SimReportSchema.safeParse(attacked).error).toBeUndefined();
      expect(attacked.config.strategy).toEqual(strategy);
      expect(attacked.attack).toEqual({ excludedFromJob: [], updatesLeftOut: {} });
      expect(attacked.rounds).toHaveLength(30);
      expect(Math.abs(accuracy(attacked) - clean)).toBeLessThanOrEqual(0.03);
      expect(Math.abs(accuracy(attacked) - unattacked)).toBeLessThanOrEqual(0.03);
    },
  );
});

describe('one attacker of five sending shift-means:100, breast cancer', () => {
  it.each(['fedavg', 'median'])('%s: passes every plausibility check and ends far below the run without attack', async (text) => {
    const report = await simulate({ ...options, strategy: parseStrategy(text), attack: parseAttack('shift-means:100'), attackers: 1 });
    expect(report.attack).toEqual({ excludedFromJob: [], updatesLeftOut: {} });
    expect(accuracy(report)).toBeLessThan(clean - 0.3);
  });
});
