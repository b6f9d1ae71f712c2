import { epsilonAfter, JobSpecSchema, type JobSpec, type SecAggRequestHeader, type TrainHeader } from '@fl/shared';
import { AcceptedJobs, type Journaled } from './accepted-jobs';
import type { JournalCharge, JournalJob } from './journal';

const sha = (c: string) => c.repeat(64);
const base = { coordinator: 'https://fl.example.org', participant: 'site-a', at: 1 };
const secure = JobSpecSchema.parse({
  model: 'logistic',
  features: [
    { name: 'age', type: 'numeric', bounds: [0, 120] },
    { name: 'home', type: 'categorical' },
    { name: 'region', type: 'categorical', categories: ['north', 'south'] },
  ],
  target: 'default',
  classes: ['no', 'yes'],
  rounds: 4,
  minParticipants: 3,
  strategy: { name: 'fedavg', weighting: 'uniform' },
  secureAggregation: { vocabulary: { minSites: 2 } },
  dp: { noiseMultiplier: 2, clipNorm: 1, delta: 1e-5 },
});
const jobLine = (spec: JobSpec): Journaled => ({ kind: 'job', ...base, job: 'j', spec });
const train = (round: number, model: string, more: Partial<TrainHeader> = {}): TrainHeader => ({
  type: 'train',
  job: 'j',
  round,
  setup: sha('d'),
  weightsSha256: model,
  deadline: 0,
  issuedAt: 0,
  auditHead: { seq: 1, hash: sha('0') },
  evaluate: false,
  ...more,
});
const step = (round: number, name: SecAggRequestHeader['step']): SecAggRequestHeader => ({ type: 'secagg-request', job: 'j', round, step: name, participants: ['a', 'b', 'site-a'], deadline: 0, issuedAt: 0 });
const secagg = (round: number, name: string, more: object = {}): Journaled => ({ kind: 'secagg', ...base, job: 'j', round, step: name, discloses: [], ...more });

describe('the jobs a site accepted', () => {
  it('takes a secure job’s statistics round, which declares the categories it gathered, for the job it accepted, and no other declared categories', () => {
    const accepted = new AcceptedJobs(() => [jobLine(secure)]);
    const gathered = JobSpecSchema.parse({ ...secure, features: secure.features.map((f) => (f.name === 'home' ? { ...f, categories: ['owner', 'rent'] } : f)) });
    expect(accepted.changed('j', gathered)).toBeNull();
    expect(accepted.changed('j', secure)).toBeNull();
    const regions = JobSpecSchema.parse({ ...secure, features: secure.features.map((f) => (f.name === 'region' ? { ...f, categories: ['north', 'east'] } : f)) });
    expect(accepted.changed('j', regions)).toMatchObject({ code: 'REQUEST_OUTSIDE_JOB', reason: 'the job is not the one this site accepted: features differs' });
    // accepted at the statistics round (a restart between the phases): the setup, without them, is the same job
    expect(new AcceptedJobs(() => [jobLine(gathered)]).changed('j', secure)).toBeNull();
    // without gathered vocabularies every category counts
    const plain = JobSpecSchema.parse({ ...secure, secureAggregation: undefined, dp: undefined });
    const declared = JobSpecSchema.parse({ ...plain, features: plain.features.map((f) => (f.name === 'region' ? { ...f, categories: undefined } : f)) });
    expect(new AcceptedJobs(() => [jobLine(plain)]).changed('j', declared)).toMatchObject({ code: 'REQUEST_OUTSIDE_JOB' });
  });

  it('answers a round again from the same model and config, none being as good as an empty one, and no other', () => {
    const accepted = new AcceptedJobs(() => []);
    const spec = JobSpecSchema.parse({ ...secure, secureAggregation: undefined, dp: undefined });
    accepted.sent([{ ...base, job: 'j', round: 2, sha256: sha('u'), numSamples: 5, signature: 's', modelSha256: sha('a') }]);
    expect(accepted.train(train(2, sha('a'), { config: {} }), spec)).toBeNull();
    expect(accepted.train(train(2, sha('b')), spec)?.reason).toBe('its model is not the model of round 1 this site was sent before');
    expect(accepted.train(train(2, sha('a'), { config: { proximalMu: 0.1 } }), spec)?.reason).toBe('its per-round config is not the one this site trained round 2 with');
    // round 1's model is the one round 2 was trained from: it is what an evaluation of round 1 must carry
    expect(accepted.evaluate({ ...train(1, sha('b')), type: 'evaluate' }, spec)?.code).toBe('REQUEST_OUTSIDE_JOB');
    expect(accepted.evaluate({ ...train(1, sha('a')), type: 'evaluate' }, spec)).toBeNull();
  });

  it('counts every masked input of a DP job, the attempts of a round and those of earlier releases’ lines too', () => {
    // Prepare: the accepted ε is that after the job's 4 rounds (no budget); 3 inputs sent, one written before the lines said their model
    const journal = [jobLine(secure), secagg(1, 'advertise'), secagg(1, 'masked'), secagg(1, 'advertise'), secagg(1, 'masked', { modelSha256: sha('a') }), secagg(2, 'advertise'), secagg(2, 'masked', { modelSha256: sha('b') })];
    const accepted = new AcceptedJobs(() => journal);
    // Execute, assert: a fourth fits, a fifth does not, whatever its round
    expect(accepted.secureStep(step(3, 'advertise'), secure)).toBeNull();
    accepted.sent([secagg(3, 'advertise'), secagg(3, 'masked', { modelSha256: sha('c') })]);
    expect(accepted.secureStep(step(4, 'advertise'), secure)).toEqual({
      code: 'PRIVACY_BUDGET_SPENT',
      counts: { inputs: 4 },
      reason: `noised input 5 would take ε to ${epsilonAfter(secure.dp!, 5).toFixed(3)} at δ 0.00001, over the ${epsilonAfter(secure.dp!, 4).toFixed(3)} this site accepted`,
    });
    expect(accepted.train(train(4, sha('d'), { secagg: { shares: [] } }), secure)?.code).toBe('PRIVACY_BUDGET_SPENT');
  });

  it('holds a DP job to the least of its budget and its ε after all its rounds', () => {
    const dp = { ...secure.dp!, epsilonBudget: (epsilonAfter(secure.dp!, 1) + epsilonAfter(secure.dp!, 2)) / 2 };
    const budgeted = JobSpecSchema.parse({ ...secure, dp });
    const accepted = new AcceptedJobs(() => [jobLine(budgeted), secagg(1, 'advertise'), secagg(1, 'masked')]);
    expect(accepted.secureStep(step(2, 'advertise'), budgeted)?.code).toBe('PRIVACY_BUDGET_SPENT');
    // without dp the site adds no noise, and counts none
    const noiseless = JobSpecSchema.parse({ ...secure, dp: undefined });
    expect(new AcceptedJobs(() => [jobLine(noiseless), secagg(1, 'masked'), secagg(2, 'masked'), secagg(3, 'masked'), secagg(4, 'masked')]).secureStep(step(4, 'advertise'), noiseless)).toBeNull();
  });

  it('sums the most ε and the δ of every DP job the journal says this site accepted, of any coordinator, each once', () => {
    // Prepare: a job under a budget, one without dp, one of another coordinator, and a line of the first taken again
    const dp = secure.dp!;
    const budgeted = JobSpecSchema.parse({ ...secure, dp: { ...dp, epsilonBudget: 1 } });
    const plain = JobSpecSchema.parse({ ...secure, secureAggregation: undefined, dp: undefined });
    const journal = [jobLine(budgeted), { ...jobLine(plain), job: 'k' }, { ...jobLine(secure), coordinator: 'https://old.example.org' }] as JournalJob[];
    const read = jest.fn(() => journal);
    const accepted = new AcceptedJobs(() => [], read);
    // Execute, assert: the least of the budget and ε after all rounds, and ε after all rounds; a job without dp spends none
    const four = epsilonAfter(dp, 4);
    expect(accepted.privacyLoss()).toEqual({ epsilon: 1 + four, delta: 2e-5, jobs: 2 });
    // a job accepted now counts from then on, and a job's line read again does not count twice
    accepted.sent([{ ...jobLine(secure), job: 'l' }, jobLine(budgeted)]);
    expect(accepted.privacyLoss()).toEqual({ epsilon: expect.closeTo(1 + 2 * four, 9), delta: expect.closeTo(3e-5, 12), jobs: 3 });
    expect(read).toHaveBeenCalledTimes(1);
    // accepted before the journal is first read, and journaled: counted once
    const later = new AcceptedJobs(() => [], () => journal);
    later.sent([jobLine(budgeted)]);
    expect(later.privacyLoss()).toEqual({ epsilon: 1 + four, delta: 2e-5, jobs: 2 });
    // a dp this release cannot read may have spent any ε and δ
    const unread = new AcceptedJobs(() => [], () => [{ ...jobLine(secure), spec: { ...secure, dp: { noiseMultiplier: 'two' } } }] as JournalJob[]);
    expect(unread.privacyLoss()).toEqual({ epsilon: Infinity, delta: Infinity, jobs: 1 });
  });

  it('charges a DP job’s ε only once its first training input is journaled, and a job line of an earlier release at once', () => {
    // Prepare: j accepted and trained, k accepted only (statistics), m journaled by an earlier release, n without dp
    const plain = JobSpecSchema.parse({ ...secure, secureAggregation: undefined, dp: undefined });
    const charge = (job: string): JournalCharge => ({ kind: 'job-charged', ...base, job });
    const journal = [
      { ...jobLine(secure), charged: false },
      charge('j'),
      { ...jobLine(secure), job: 'k', charged: false },
      { ...jobLine(secure), job: 'm' },
      { ...jobLine(plain), job: 'n', charged: false },
      charge('n'),
    ] as (JournalJob | JournalCharge)[];
    const accepted = new AcceptedJobs(() => [], () => journal);
    const four = epsilonAfter(secure.dp!, 4);
    const names = (job: string) => ({ coordinator: base.coordinator, participant: base.participant, job });
    // Execute, assert: k counts nothing until it is charged; a job without dp never does
    expect(accepted.privacyLoss()).toEqual({ epsilon: 2 * four, delta: 2e-5, jobs: 2 });
    expect(['j', 'k', 'm', 'n', 'o'].map((job) => accepted.uncharged(names(job)))).toEqual([false, true, false, false, false]);
    accepted.sent([charge('k')]);
    expect(accepted.uncharged(names('k'))).toBe(false);
    expect(accepted.privacyLoss()).toEqual({ epsilon: expect.closeTo(3 * four, 9), delta: expect.closeTo(3e-5, 12), jobs: 3 });
    // a job accepted now is charged once its charge is taken in, and once only
    accepted.sent([{ ...jobLine(secure), job: 'p', charged: false } as JournalJob]);
    expect(accepted.privacyLoss().jobs).toBe(3);
    accepted.sent([charge('p'), charge('p')]);
    expect(accepted.privacyLoss().jobs).toBe(4);
  });
});
