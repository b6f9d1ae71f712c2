import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { epsilonAfter, JobSpecSchema } from '@fl/shared';
import { checkPolicy, loadPolicy, SitePolicySchema, strategyOf, totalsDecline } from './policy';

const spec = JobSpecSchema.parse({
  model: 'logistic',
  features: [
    { name: 'age', type: 'numeric' },
    { name: 'postcode', type: 'categorical' },
  ],
  target: 'default',
  rounds: 20,
  minParticipants: 3,
});
const policy = (p: unknown) => SitePolicySchema.parse(p);
// A secure job declares what its statistics are summed over.
const declared = { features: [{ name: 'age', type: 'numeric', bounds: [0, 120] }, { name: 'postcode', type: 'categorical', categories: ['1000', '2000'] }], classes: ['no', 'yes'] };

describe("a site's policy", () => {
  it('accepts a job within it, and any job without rules', () => {
    expect(checkPolicy(policy({}), spec)).toBeNull();
    const strict = policy({ features: { allowed: ['age', 'postcode'] }, target: { allowed: ['default'] }, models: ['logistic'], strategies: ['fedavg'], maxRounds: 20, minParticipants: 3 });
    expect(checkPolicy(strict, spec)).toBeNull();
  });

  it('declines with a code and counts, the column names kept for the site log', () => {
    expect(checkPolicy(policy({ features: { forbidden: ['postcode'] } }), spec)).toEqual({ code: 'POLICY_COLUMN', counts: { columns: 1 }, reason: 'columns not allowed: feature postcode' });
    expect(checkPolicy(policy({ features: { allowed: ['age'] }, target: { forbidden: ['default'] } }), spec)?.counts).toEqual({ columns: 2 });
    expect(checkPolicy(policy({ models: ['linear'] }), spec)?.code).toBe('POLICY_MODEL');
    expect(checkPolicy(policy({ strategies: ['fedprox'] }), spec)?.code).toBe('POLICY_STRATEGY');
    expect(checkPolicy(policy({ maxRounds: 10 }), spec)).toMatchObject({ code: 'POLICY_ROUNDS', counts: { rounds: 20 } });
    expect(checkPolicy(policy({ minParticipants: 4 }), spec)).toMatchObject({ code: 'POLICY_MIN_PARTICIPANTS', counts: { minParticipants: 3 } });
  });

  it('requiring secure aggregation declines the jobs without it and accepts those with it', () => {
    expect(checkPolicy(policy({ requireSecureAggregation: true }), spec)?.code).toBe('POLICY_SECURE_AGGREGATION');
    const secure = JobSpecSchema.parse({ ...spec, ...declared, secureAggregation: {} });
    expect(checkPolicy(policy({ requireSecureAggregation: true }), secure)).toBeNull();
  });

  it('requiring differential privacy declines the jobs without it and accepts those with it', () => {
    // Prepare: a secure DP job of 20 rounds
    const dp = { noiseMultiplier: 2, clipNorm: 1, delta: 1e-5 };
    const noisy = JobSpecSchema.parse({ ...spec, ...declared, strategy: { name: 'fedavg', weighting: 'uniform' }, secureAggregation: {}, dp });
    // Execute, Assert
    expect(checkPolicy(policy({ requireDifferentialPrivacy: true }), spec)).toEqual({ code: 'POLICY_DIFFERENTIAL_PRIVACY', counts: {}, reason: 'the job does not use differential privacy' });
    expect(checkPolicy(policy({ requireDifferentialPrivacy: true }), noisy)).toBeNull();
    expect(checkPolicy(policy({ requireSecureAggregation: true, requireDifferentialPrivacy: true }), noisy)).toBeNull();
  });

  it('with a largest ε, accepts a DP job only if it can never spend more, its budget or its rounds bounding it', () => {
    // Prepare: ε after all 20 rounds, and a job whose budget is below it
    const dp = { noiseMultiplier: 2, clipNorm: 1, delta: 1e-5 };
    const full = epsilonAfter(dp, 20);
    const job = (extra: object) => JobSpecSchema.parse({ ...spec, ...declared, strategy: { name: 'fedavg', weighting: 'uniform' }, secureAggregation: {}, dp: { ...dp, ...extra } });
    // Execute, Assert: the rounds bound it
    expect(checkPolicy(policy({ maxEpsilon: full + 0.01 }), job({}))).toBeNull();
    expect(checkPolicy(policy({ maxEpsilon: full - 0.01 }), job({}))).toEqual({
      code: 'POLICY_DIFFERENTIAL_PRIVACY',
      counts: {},
      reason: `it may spend ε ${full.toFixed(3)} at δ 0.00001, over the allowed ${full - 0.01}`,
    });
    // the budget bounds it below what the rounds would spend
    expect(checkPolicy(policy({ maxEpsilon: full / 2 }), job({ epsilonBudget: full / 2 }))).toBeNull();
    // a largest ε or δ implies DP; a δ above the allowed is declined
    expect(checkPolicy(policy({ maxEpsilon: 100 }), spec)?.reason).toBe('the job does not use differential privacy');
    expect(checkPolicy(policy({ maxDelta: 1e-6 }), job({}))?.reason).toBe('its δ 0.00001 is above the allowed 0.000001');
  });

  it('with a total ε or δ, declines a DP job that would take the sums over every job this site trained over it, and never a job it accepted already', () => {
    // Prepare: a DP job of 20 rounds, two DP jobs accepted before it
    const dp = { noiseMultiplier: 2, clipNorm: 1, delta: 1e-5 };
    const most = epsilonAfter(dp, 20);
    const job = JobSpecSchema.parse({ ...spec, ...declared, strategy: { name: 'fedavg', weighting: 'uniform' }, secureAggregation: {}, dp });
    const before = { epsilon: 2 * most, delta: 2e-5, jobs: 2 };
    // Execute, Assert: the sum of the most ε of each, this one's included, against the total
    expect(checkPolicy(policy({ maxEpsilonTotal: 3 * most }), job, () => before)).toBeNull();
    expect(checkPolicy(policy({ maxEpsilonTotal: 3 * most - 0.01 }), job, () => before)).toEqual({
      code: 'POLICY_DIFFERENTIAL_PRIVACY',
      counts: {},
      reason: `it may spend ε ${most.toFixed(3)} at δ 0.00001, which would take the ε of this site's jobs to ${(3 * most).toFixed(3)}, over the allowed total ${3 * most - 0.01} (the 2 DP jobs it trained before: ε ${(2 * most).toFixed(3)})`,
    });
    // the δs add up too; a sum equal to the total is within it, whatever its last bits
    expect(checkPolicy(policy({ maxDeltaTotal: 3e-5 }), job, () => before)).toBeNull();
    expect(checkPolicy(policy({ maxDeltaTotal: 2.5e-5 }), job, () => before)?.reason).toBe(
      "its δ 0.00001 would take the δ of this site's jobs to 0.00003, over the allowed total 0.000025 (the 2 DP jobs it trained before: δ 0.00002)",
    );
    // a job accepted already (a restart) is within the total, its own ε counted in it
    expect(checkPolicy(policy({ maxEpsilonTotal: most / 2, maxDeltaTotal: 1e-6 }), job, () => null)).toBeNull();
    // the job alone over the total
    expect(checkPolicy(policy({ maxEpsilonTotal: most / 2 }), job, () => ({ epsilon: 0, delta: 0, jobs: 0 }))?.reason).toMatch(/, over the allowed total [\d.]+ \(no DP job trained before\)$/);
    // a total implies DP; the journal is read only when the total is checked
    const journal = jest.fn(() => before);
    expect(checkPolicy(policy({ maxEpsilonTotal: 100 }), spec, journal)?.reason).toBe('the job does not use differential privacy');
    expect(checkPolicy(policy({ maxDeltaTotal: 1e-3 }), spec, journal)?.reason).toBe('the job does not use differential privacy');
    expect(checkPolicy(policy({ maxEpsilon: 100 }), job, journal)).toBeNull();
    expect(journal).not.toHaveBeenCalled();
    // a journal that cannot be read leaves the total unknown: declined
    const unreadable = () => {
      throw new Error('cannot read the journal j.jsonl: line 3 is not JSON');
    };
    expect(checkPolicy(policy({ maxEpsilonTotal: 100 }), job, unreadable)?.reason).toBe("the ε this site's jobs may spend is unknown: cannot read the journal j.jsonl: line 3 is not JSON");
  });

  it('at a DP job’s first training input, declines it when the jobs this site trained before and it would take a total over', () => {
    // Prepare: a DP job of 20 rounds, one DP job trained before it
    const dp = { noiseMultiplier: 2, clipNorm: 1, delta: 1e-5 };
    const most = epsilonAfter(dp, 20);
    const job = JobSpecSchema.parse({ ...spec, ...declared, strategy: { name: 'fedavg', weighting: 'uniform' }, secureAggregation: {}, dp });
    const trained = jest.fn(() => ({ epsilon: most, delta: 1e-5, jobs: 1 }));
    // Execute, Assert: within the totals, or over one of them
    expect(totalsDecline(policy({ maxEpsilonTotal: 2 * most, maxDeltaTotal: 2e-5 }), job, trained)).toBeNull();
    expect(totalsDecline(policy({ maxEpsilonTotal: 1.5 * most }), job, trained)).toEqual({
      code: 'POLICY_DIFFERENTIAL_PRIVACY',
      counts: {},
      reason: `it may spend ε ${most.toFixed(3)} at δ 0.00001, which would take the ε of this site's jobs to ${(2 * most).toFixed(3)}, over the allowed total ${1.5 * most} (the DP job it trained before: ε ${most.toFixed(3)})`,
    });
    expect(totalsDecline(policy({ maxDeltaTotal: 1.5e-5 }), job, trained)?.reason).toMatch(/^its δ 0.00001 would take the δ of this site's jobs to 0.00002, over the allowed total/);
    // without totals, or without dp, nothing is charged: the journal is not read
    trained.mockClear();
    expect(totalsDecline(policy({ maxEpsilon: 100 }), job, trained)).toBeNull();
    expect(totalsDecline(policy({ maxEpsilonTotal: most / 2 }), spec, trained)).toBeNull();
    expect(trained).not.toHaveBeenCalled();
  });

  it('with bounds on training, declines a job whose batch size, epochs or learning rate would make an update reveal fewer rows, with the counts', () => {
    const bounds = policy({ minBatchSize: 16, maxEpochs: 2, maxLearningRate: 0.1 });
    expect(checkPolicy(bounds, spec)).toBeNull();
    expect(checkPolicy(bounds, JobSpecSchema.parse({ ...spec, batchSize: 1 }))).toEqual({
      code: 'POLICY_TRAINING',
      counts: { batchSize: 1 },
      reason: 'batch size 1, below the allowed 16',
    });
    // every bound the job is outside, in one decline; a learning rate is no count
    expect(checkPolicy(bounds, JobSpecSchema.parse({ ...spec, batchSize: 8, localEpochs: 5, learningRate: 0.5 }))).toEqual({
      code: 'POLICY_TRAINING',
      counts: { batchSize: 8, localEpochs: 5 },
      reason: 'batch size 8, below the allowed 16; 5 local epochs, over the allowed 2; learning rate 0.5, over the allowed 0.1',
    });
    expect(checkPolicy(policy({ maxLearningRate: 0.01 }), spec)).toEqual({ code: 'POLICY_TRAINING', counts: {}, reason: 'learning rate 0.1, over the allowed 0.01' });
    // a kmeans job takes one step of Lloyd's a round, with no batch, epochs or learning rate
    const kmeans = JobSpecSchema.parse({ ...spec, model: 'kmeans', target: undefined, k: 2, batchSize: 1, localEpochs: 5 });
    expect(checkPolicy(bounds, kmeans)).toBeNull();
    // minClusterRows changes what a kmeans job's update holds, and declines no job
    expect(checkPolicy(policy({ minClusterRows: 1000 }), kmeans)).toBeNull();
  });

  it('a job spec refuses secure aggregation with a strategy that needs each update', () => {
    const refused = JobSpecSchema.safeParse({ ...spec, strategy: { name: 'median' }, secureAggregation: {} });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues[0]).toMatchObject({ path: ['strategy', 'name'], message: expect.stringMatching(/median needs the individual updates/) });
    expect(JobSpecSchema.safeParse({ ...spec, minParticipants: 2, secureAggregation: {} }).success).toBe(false);
  });

  it("reads a job's strategy by name, FedAvg when it names none", () => {
    expect(strategyOf(spec)).toBe('fedavg');
    expect(strategyOf({ ...spec, strategy: { name: 'fedprox', mu: 0.1 } } as never)).toBe('fedprox');
    expect(checkPolicy(policy({ strategies: ['fedavg'] }), { ...spec, strategy: { name: 'krum' } } as never)?.code).toBe('POLICY_STRATEGY');
  });

  it('names every problem of a policy file by its place', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-policy-'));
    const write = (text: string) => {
      const file = path.join(dir, 'policy.json');
      fs.writeFileSync(file, text);
      return file;
    };
    expect(() => loadPolicy(path.join(dir, 'none.json'))).toThrow(/cannot read the policy file .*none.json: no such file/);
    expect(() => loadPolicy(write('{ nope'))).toThrow(/is not valid JSON/);
    expect(() => loadPolicy(write(JSON.stringify({ maxRounds: 0, models: ['forest'], colour: 'blue' })))).toThrow(
      /is not a valid policy:\n {2}models\.0: expected one of logistic, softmax, linear, svm, kmeans, not "forest"\n {2}maxRounds: expected at least 1, not 0\n {2}the policy: unknown field colour/,
    );
    expect(loadPolicy(write(JSON.stringify({ maxRounds: 5 })))).toEqual({ maxRounds: 5, requireSecureAggregation: false, requireDifferentialPrivacy: false });
    expect(() => loadPolicy(write(JSON.stringify({ maxEpsilonTotal: 0, maxDeltaTotal: 2, minBatchSize: 0.5, maxEpochs: 0, maxLearningRate: -1 })))).toThrow(
      /is not a valid policy:\n {2}maxEpsilonTotal: expected above 0, not 0\n {2}maxDeltaTotal: expected at most 1, not 2\n {2}minBatchSize: expected a whole number, not 0.5\n {2}maxEpochs: expected at least 1, not 0\n {2}maxLearningRate: expected above 0, not -1$/,
    );
    expect(() => loadPolicy(write(JSON.stringify({ maxEpsilonTotal: '8', minBatchSize: null })))).toThrow(
      /is not a valid policy:\n {2}maxEpsilonTotal: expected a number, not "8"\n {2}minBatchSize: expected a number, not null$/,
    );
    expect(() => loadPolicy(write(JSON.stringify({ minClusterRows: 0 })))).toThrow(/is not a valid policy:\n {2}minClusterRows: expected at least 1, not 0$/);
    const totals = { maxEpsilonTotal: 10, maxDeltaTotal: 1e-4, minBatchSize: 32, maxEpochs: 3, maxLearningRate: 0.5, minClusterRows: 5 };
    expect(loadPolicy(write(JSON.stringify(totals)))).toEqual({ ...totals, requireSecureAggregation: false, requireDifferentialPrivacy: false });
  });
});
