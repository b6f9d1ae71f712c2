/**
 * Secure aggregation through a running coordinator and five real agents: the
 * model a secure job reaches is plain FedAvg's within the quantization error;
 * the store and the audit log hold masked inputs only, whose bytes look
 * uniform; a site that drops after sharing its keys is recovered and the sum
 * is still right; a site that deals a neighbour shares that do not open leaves
 * neither itself nor that neighbour out of the sum; `audit verify` recomputes
 * every secure round from the masked inputs and fails when one is changed.
 */
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore, STORE_FILE, toArray, type RunningCoordinator } from '@fl/coordinator';
import type { ParticipantAgent } from '@fl/participant-agent';
import type { JobSpecInput } from '@fl/shared';
import {
  AdminApi,
  breastCancerJob,
  byteChiSquare,
  dealingBadShares,
  registerParticipant,
  retainedInputs,
  splitCsv,
  startAgent,
  tempDir,
  testCoordinator,
  verifyAndTamper,
} from './harness';
import { AGENT_CLI, runToEnd } from './processes';

jest.setTimeout(600_000);

const ROUNDS = 3;
// The plain job's statistics are of the same declared columns as the secure jobs'.
const { file, spec: base, secure } = breastCancerJob();

const maxDifference = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('secure aggregation in a running federation', () => {
  let coordinator: RunningCoordinator;
  let store: SqliteStore;
  const jobs: Record<'plain' | 'secure' | 'badShare' | 'lateDropout' | 'dropout', string> = { plain: '', secure: '', badShare: '', lateDropout: '', dropout: '' };
  const logs: string[] = [];
  const journals = tempDir('secagg-journals');
  /** the steps the coordinator accepted from site-4 while it was to drop before unmasking */
  const lateSteps: string[] = [];

  beforeAll(async () => {
    coordinator = await testCoordinator();
    const split = splitCsv(file, 5, { seed: 5, holdout: 0, dir: tempDir('secagg-data') });
    const api = AdminApi.of(coordinator);
    const keys = await Promise.all(split.parties.map((_, i) => registerParticipant(api, `site-${i}`)));
    const start = (i: number) => startAgent(coordinator, `site-${i}`, split.parties[i], { keys: keys[i], log: (m) => logs.push(`site-${i} ${m}`), journalFile: path.join(journals, `site-${i}.jsonl`) });
    const agents: ParticipantAgent[] = await Promise.all(split.parties.map((_, i) => start(i)));
    const run = async (spec: Record<string, unknown>) => {
      const job = await api.createJob(spec as JobSpecInput);
      await coordinator.engine.whenFinished(job.id);
      return job.id;
    };
    try {
      jobs.plain = await run({ ...base, rounds: ROUNDS });
      jobs.secure = await run({ ...base, rounds: ROUNDS, secureAggregation: secure });
      // site-2 seals garbage for site-3 in the statistics phase (round 0) and in round 1: site-3 skips those shares, and both stay in the sums.
      const honest = dealingBadShares(agents[2], 'site-3', [0, 1]);
      jobs.badShare = await run({ ...base, rounds: 1, secureAggregation: secure });
      honest();
      // site-4 goes away once its masked input is in, before unmasking: the others' shares must do.
      const late = agents[4];
      late.on('secagg', ({ job, round, step, ack }: { job: string; round: number; step: string; ack: { ok: boolean } }) => {
        if (ack.ok && round === 1) lateSteps.push(`${job}:${step}`);
      });
      late.on('trained', ({ ack }: { ack: { ok: boolean } }) => {
        if (ack.ok) late.stop();
      });
      jobs.lateDropout = await run({ ...base, rounds: 1, secureAggregation: secure });
      agents[4] = await start(4);
      // Then it goes away once it has shared its keys in round 1: the round must recover its masks.
      const dropping = agents[4];
      dropping.on('secagg', ({ round, step, ack }: { round: number; step: string; ack: { ok: boolean } }) => {
        if (round === 1 && step === 'share' && ack.ok) dropping.stop();
      });
      jobs.dropout = await run({ ...base, rounds: 1, secureAggregation: secure });
    } finally {
      agents.forEach((a) => a.stop());
      await coordinator.close();
    }
    store = await SqliteStore.open(path.join(coordinator.config.dataDir, STORE_FILE), { readonly: true });
  });

  afterAll(async () => store?.close());

  it('completes every job', async () => {
    for (const [name, id] of Object.entries(jobs)) expect({ name, status: (await store.getJob(id))!.status }).toEqual({ name, status: 'completed' });
    expect(logs.filter((line) => /ignored|error:|refused the/.test(line))).toEqual([]);
  });

  it("tells the site's data-protection officer what each secure step carried, by count and size, never a value", async () => {
    const report = JSON.parse(await runToEnd(AGENT_CLI, ['report', '--journal', path.join(journals, 'site-0.jsonl'), '--format', 'json'])) as {
      jobs: { job: string; updates: unknown[]; secure: { round: number; step: string; accepted: boolean; discloses: string[] }[] }[];
    };
    const secureJob = report.jobs.find((j) => j.job === jobs.secure)!;
    // No plain update left this site; its statistics (rounds −2 to 0) and each round went through the steps, all accepted.
    expect(secureJob.updates).toEqual([]);
    const steps = secureJob.secure.map((a) => `${a.round} ${a.step}`);
    for (const round of [0, 1, 2, 3]) expect(steps).toEqual(expect.arrayContaining([`${round} masked`, `${round} unmask`]));
    expect(secureJob.secure.every((a) => a.accepted)).toBe(true);
    const carried = secureJob.secure.flatMap((a) => a.discloses);
    expect(carried).toContain('two public keys (X25519)');
    expect(carried).toContainEqual(expect.stringMatching(/^4 encrypted shares, one per other party$/));
    expect(carried).toContainEqual(expect.stringMatching(/^the masked input: \d+ bytes, SHA-256 [0-9a-f]{64}$/));
    const markdown = await runToEnd(AGENT_CLI, ['report', '--journal', path.join(journals, 'site-0.jsonl')]);
    expect(markdown).toMatch(/### Secure aggregation\n\n\| sent \| round \| step \| accepted \| carried \|/);
  });

  it('reaches plain FedAvg’s model within the quantization error', async () => {
    const plain = (await store.getModel(jobs.plain, ROUNDS))!.weights;
    const masked = (await store.getModel(jobs.secure, ROUNDS))!.weights;
    expect(maxDifference(plain, masked)).toBeLessThan(1e-4);
    expect(maxDifference(plain, masked)).toBeGreaterThan(0);
    for (const round of await store.listRounds(jobs.secure)) expect(round.contributors.map((c) => c.participant).sort()).toEqual(['site-0', 'site-1', 'site-2', 'site-3', 'site-4']);
  });

  it('sums every site’s input when one deals a neighbour shares that do not open', async () => {
    // The same sites trained the same round of the plain job from the same model: its FedAvg of all five is the reference.
    const [round] = await store.listRounds(jobs.badShare);
    expect(round.contributors.map((c) => c.participant).sort()).toEqual(['site-0', 'site-1', 'site-2', 'site-3', 'site-4']);
    expect(round.failures).toEqual([]);
    // the statistics phase summed all five sites' statistics too
    expect(maxDifference((await store.getModel(jobs.plain, 0))!.weights, (await store.getModel(jobs.badShare, 0))!.weights)).toBe(0);
    expect(maxDifference((await store.getModel(jobs.badShare, 1))!.weights, (await store.getModel(jobs.plain, 1))!.weights)).toBeLessThan(1e-4);
    // site-3 told its operator, once a round
    expect(logs.filter((l) => l.startsWith('site-3 ') && l.includes(`job ${jobs.badShare}`) && l.includes('the share from site-2 does not decrypt'))).toHaveLength(2);
  });

  it('recovers a site that dropped during unmasking: its input is in the sum', async () => {
    const [round] = await store.listRounds(jobs.lateDropout);
    expect(round.contributors).toHaveLength(5);
    // (an answer of the job before may be acknowledged after it ended: only this job's count)
    expect(lateSteps.filter((step) => step.startsWith(jobs.lateDropout))).toEqual([`${jobs.lateDropout}:advertise`, `${jobs.lateDropout}:share`]);
    expect(maxDifference((await store.getModel(jobs.lateDropout, 1))!.weights, (await store.getModel(jobs.plain, 1))!.weights)).toBeLessThan(1e-4);
  });

  it('recovers a site that dropped after sharing its keys: the sum is that of the others', async () => {
    const [round] = await store.listRounds(jobs.dropout);
    expect(round.contributors.map((c) => c.participant).sort()).toEqual(['site-0', 'site-1', 'site-2', 'site-3']);
    expect(round.failures.map((f) => f.participant)).toEqual(['site-4']);
    // The same sites trained the same round of the plain job from the same model (same statistics, seeds): its FedAvg of the four is the reference.
    const samples = new Map((await store.listRounds(jobs.plain))[0].contributors.map((c) => [c.participant, c.numSamples]));
    const db = new Database(path.join(coordinator.config.dataDir, STORE_FILE), { readonly: true });
    let reference: Float32Array;
    try {
      const rows = db.prepare("SELECT participant, weights FROM updates WHERE job = ? AND round = 1 AND participant != 'site-4'").all(jobs.plain) as { participant: string; weights: Buffer }[];
      expect(rows).toHaveLength(4);
      const total = rows.reduce((t, r) => t + samples.get(r.participant)!, 0);
      const sum = new Float64Array(rows[0].weights.byteLength / 4);
      for (const r of rows) {
        const w = new Float32Array(new Uint8Array(r.weights).buffer);
        w.forEach((v, i) => (sum[i] += (v * samples.get(r.participant)!) / total));
      }
      reference = Float32Array.from(sum);
    } finally {
      db.close();
    }
    expect(maxDifference((await store.getModel(jobs.plain, 0))!.weights, (await store.getModel(jobs.dropout, 0))!.weights)).toBe(0);
    expect(maxDifference((await store.getModel(jobs.dropout, 1))!.weights, reference)).toBeLessThan(1e-4);
    expect(maxDifference((await store.getModel(jobs.plain, 1))!.weights, reference)).toBeGreaterThan(1e-3);
  });

  it('keeps no individual update of a secure job, in the store or the audit log', async () => {
    const kinds = (await toArray(store.auditRecords())).map(({ text }) => JSON.parse(text) as { kind: string; data: { job?: string; round?: number } });
    for (const id of [jobs.secure, jobs.lateDropout, jobs.dropout]) {
      const ofJob = kinds.filter((r) => r.data.job === id);
      expect(ofJob.map((r) => r.kind)).not.toContain('update.accepted');
      // round 0: the statistics phase's masked inputs, one a site
      const inputs = ofJob.filter((r) => r.kind === 'secagg.input');
      expect(inputs.filter((r) => r.data.round === 0)).toHaveLength(5);
      expect(inputs.filter((r) => r.data.round! > 0)).toHaveLength(id === jobs.secure ? 5 * ROUNDS : id === jobs.lateDropout ? 5 : 4);
    }
    const size = (await store.getModel(jobs.secure, 0))!.weights.length;
    const rows = retainedInputs(coordinator.config.dataDir, jobs.secure, 'training');
    expect(rows).toHaveLength(5 * ROUNDS);
    for (const weights of rows) expect(weights.byteLength).toBe((size + 1) * 4);
    // the stored masked inputs' bytes are indistinguishable from uniform: chi-square over 256 values, below its 99.9th percentile
    expect(byteChiSquare(Buffer.concat(rows))).toBeLessThan(330);
  });

  it('audit verify recomputes every secure round, and fails when a stored masked input changes', async () => {
    const { report, tampered } = await verifyAndTamper(coordinator.config.dataDir, { job: jobs.secure, round: 2, participant: 'site-1' });
    expect(report.failure).toBeUndefined();
    expect(report.lines).toContain(`job ${jobs.secure}: ${ROUNDS} rounds, ${ROUNDS} recomputed from ${5 * ROUNDS} retained updates, models match; statistics recomputed from 5 masked inputs`);
    expect(report.lines).toContain(`job ${jobs.dropout}: 1 round, 1 recomputed from 4 retained updates, models match; statistics recomputed from 5 masked inputs`);
    expect(report.lines).toContain(`job ${jobs.badShare}: 1 round, 1 recomputed from 5 retained updates, models match; statistics recomputed from 5 masked inputs`);
    expect(tampered.failure?.where).toContain(`update of site-1, round 2 of job ${jobs.secure}`);
  });
});
