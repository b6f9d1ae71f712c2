import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { JobSpecSchema } from '@fl/shared';
import { checkPolicy, loadPolicy, SitePolicySchema, strategyOf } from './policy';

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
    // A secure job declares what its statistics are summed over.
    const declared = { features: [{ name: 'age', type: 'numeric', bounds: [0, 120] }, { name: 'postcode', type: 'categorical', categories: ['1000', '2000'] }], classes: ['no', 'yes'] };
    const secure = JobSpecSchema.parse({ ...spec, ...declared, secureAggregation: {} });
    expect(checkPolicy(policy({ requireSecureAggregation: true }), secure)).toBeNull();
  });

  it('declines every job while it requires differential privacy, which no job has yet', () => {
    expect(checkPolicy(policy({ requireDifferentialPrivacy: true }), spec)?.code).toBe('POLICY_DIFFERENTIAL_PRIVACY');
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
  });
});
