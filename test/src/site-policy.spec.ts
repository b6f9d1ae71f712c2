/**
 * A site's policy across jobs and over how a job trains, through a running
 * coordinator: a site whose policy bounds the total ε of the jobs it takes
 * part in accepts a first DP job and declines a second that would take the
 * total over, with a signed code every round of that job records, and still
 * declines after its agent restarts, from its journal; a site whose policy
 * sets a least batch size declines a job that trains on batches of one row,
 * and a round when it holds fewer rows than that.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunningCoordinator } from '@fl/coordinator';
import { ParticipantAgent, type SitePolicy } from '@fl/participant-agent';
import { epsilonAfter, SITE_FAILURE_CODES, type JobSpecInput, type KeyPair } from '@fl/shared';
import { AdminApi, DATA_DIR, featuresOf, registerParticipant, splitCsv, tempDir, testCoordinator } from './harness';

jest.setTimeout(240_000);

const file = path.join(DATA_DIR, 'breast_cancer.csv');
const dp = { noiseMultiplier: 2, clipNorm: 1, delta: 1e-5 };
// One job of two rounds fits the total, two do not.
const most = epsilonAfter(dp, 2);
const total = 1.5 * most;

describe("a site's policy across jobs and over training", () => {
  const dir = tempDir('site-policy');
  const split = splitCsv(file, 3, { seed: 5, holdout: 0, dir });
  const agents = new Map<string, ParticipantAgent>();
  const logs = new Map<string, string[]>();
  const keys = new Map<string, KeyPair>();
  let coordinator: RunningCoordinator;
  let api: AdminApi;

  /** Starts a site's agent, again with the key and journal it had when restarted. */
  const start = async (name: string, dataFile: string, policy?: SitePolicy) => {
    if (!keys.has(name)) keys.set(name, await registerParticipant(api, name));
    const lines = logs.get(name) ?? [];
    logs.set(name, lines);
    const agent = new ParticipantAgent({
      coordinatorUrl: coordinator.url,
      keys: keys.get(name)!,
      dataFile,
      policy,
      coordinatorKey: coordinator.identity.publicKey,
      journalFile: path.join(dir, name, 'journal.jsonl'),
      log: (m) => lines.push(m),
      reconnectDelayMs: 100,
      reconnectDelayMaxMs: 1000,
    });
    agents.set(name, agent);
    await agent.start();
  };
  const dpoPolicy: SitePolicy = { requireSecureAggregation: false, requireDifferentialPrivacy: false, maxEpsilonTotal: total };
  const job = (more: Partial<JobSpecInput> = {}): JobSpecInput => ({
    model: 'logistic',
    features: featuresOf(file, 'diagnosis'),
    target: 'diagnosis',
    rounds: 2,
    minParticipants: 1,
    evaluateEvery: 0,
    strategy: { name: 'fedavg', weighting: 'uniform' },
    dp,
    ...more,
  });
  /** Runs a job to its end; each round's failures by site, with their codes. */
  const run = async (spec: JobSpecInput) => {
    const created = await api.createJob(spec);
    await coordinator.engine.whenFinished(created.id);
    const rounds = await api.rounds(created.id);
    return {
      status: (await api.job(created.id)).status,
      contributors: rounds.map((r) => r.contributors.map((c) => c.participant).sort()),
      failures: rounds.map((r) => Object.fromEntries(r.failures.map((f) => [f.participant, { code: f.code, reason: f.reason }]))),
    };
  };

  beforeAll(async () => {
    coordinator = await testCoordinator();
    api = AdminApi.of(coordinator);
    await start('clinic-dpo', split.parties[0], dpoPolicy);
    await start('clinic-b', split.parties[1]);
  });

  afterAll(async () => {
    for (const agent of agents.values()) agent.stop();
    await coordinator?.close();
  });

  it('accepts a first DP job within the total ε, and declines a second that would take it over, its code reaching the coordinator', async () => {
    const first = await run(job());
    expect(first.status).toBe('completed');
    expect(first.contributors).toEqual([
      ['clinic-b', 'clinic-dpo'],
      ['clinic-b', 'clinic-dpo'],
    ]);

    const second = await run(job());
    expect(second.status).toBe('completed');
    expect(second.contributors).toEqual([['clinic-b'], ['clinic-b']]);
    // Every round records the signed decline by its code; the coordinator words the code, not the site's total.
    for (const failures of second.failures) {
      expect(failures).toEqual({ 'clinic-dpo': { code: 'POLICY_DIFFERENTIAL_PRIVACY', reason: expect.stringMatching(/^declined: /) } });
    }
    // The site's log says the total in full.
    const declined = logs.get('clinic-dpo')!.filter((l) => l.includes('declined under this site'));
    expect(declined).toEqual([
      expect.stringMatching(
        new RegExp(`: declined under this site's policy: it may spend ε ${most.toFixed(3)} at δ 0\\.00001, which would take the ε of this site's jobs to ${(2 * most).toFixed(3)}, over the allowed total ${total} \\(the DP job it trained before: ε ${most.toFixed(3)}\\) \\[POLICY_DIFFERENTIAL_PRIVACY\\]$`),
      ),
    ]);
  });

  it('still declines such a job after the agent restarts, the jobs it accepted read from its journal', async () => {
    agents.get('clinic-dpo')!.stop();
    await start('clinic-dpo', split.parties[0], dpoPolicy);
    const third = await run(job());
    expect(third.contributors).toEqual([['clinic-b'], ['clinic-b']]);
    for (const failures of third.failures) expect(failures['clinic-dpo']?.code).toBe('POLICY_DIFFERENTIAL_PRIVACY');
    expect(logs.get('clinic-dpo')!.filter((l) => l.includes("which would take the ε of this site's jobs to"))).toHaveLength(2);
  });

  it('declines a job that trains on batches of one row under a least batch size, with the count', async () => {
    await start('clinic-rows', split.parties[2], { requireSecureAggregation: false, requireDifferentialPrivacy: false, minBatchSize: 8 });
    const { dp: _dp, ...plain } = job();
    const result = await run({ ...plain, batchSize: 1 });
    expect(result.status).toBe('completed');
    for (const failures of result.failures) {
      expect(failures['clinic-rows']).toEqual({ code: 'POLICY_TRAINING', reason: expect.stringMatching(/^declined: .*\(batchSize 1\)$/) });
      // without dp, which the total requires
      expect(failures['clinic-dpo']?.code).toBe('POLICY_DIFFERENTIAL_PRIVACY');
    }
    expect(logs.get('clinic-rows')!.join('\n')).toMatch(/declined under this site's policy: batch size 1, below the allowed 8 \[POLICY_TRAINING\]/);
    // a batch size within it is accepted
    const within = await run({ ...plain, batchSize: 8 });
    for (const contributors of within.contributors) expect(contributors).toContain('clinic-rows');
  });

  it('declines a round when it holds fewer rows than its least batch size, whose every step would average fewer', async () => {
    const lines = fs.readFileSync(split.parties[2], 'utf8').split('\n');
    const few = path.join(dir, 'few.csv');
    fs.writeFileSync(few, lines.slice(0, 1 + 5).join('\n') + '\n');
    await start('clinic-few', few, { requireSecureAggregation: false, requireDifferentialPrivacy: false, minBatchSize: 8 });
    const { dp: _dp, ...plain } = job();
    const result = await run({ ...plain, batchSize: 8 });
    expect(result.status).toBe('completed');
    // The count stays in the site's log: the coordinator learns only the code.
    for (const failures of result.failures) expect(failures['clinic-few']).toEqual({ code: 'POLICY_TRAINING', reason: `declined: ${SITE_FAILURE_CODES.POLICY_TRAINING}` });
    expect(logs.get('clinic-few')!.join('\n')).toMatch(/round 1: declined under this site's policy: 5 rows to train on, fewer than the least batch of 8 \[POLICY_TRAINING\]/);
  });
});
