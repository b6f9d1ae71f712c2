/**
 * A secure job under differential privacy whose round was started again after
 * its masked inputs went out, through a running coordinator and four real
 * agents: each site counts that attempt's input against the ε it accepted, so
 * in the job's last round every site refuses with PRIVACY_BUDGET_SPENT. The
 * coordinator leaves the sites out of the job and, too few being left, stops
 * it for its privacy budget with the model of the round before, rather than
 * starting the round again; the log verifies, at the coordinator and at a site,
 * whose journal holds its masked inputs: a log re-signed without one of them, or
 * summing another of its inputs in its place, fails there.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { SqliteStore, STORE_FILE, toArray, verifyStore, type RunningCoordinator } from '@fl/coordinator';
import type { ParticipantAgent } from '@fl/participant-agent';
import { readKeyFile, writeKeyFile, type AuditData, type AuditRecord, type JobSpecInput, type JobView, type KeyPair, type RoundView } from '@fl/shared';
import { AdminApi, breastCancerJob, eventually, registerParticipant, splitCsv, startAgent, tempDir, testCoordinator, type GlobalModel } from './harness';
import { AGENT_CLI, COORDINATOR_CLI, runToEnd } from './processes';
import { resignCommit, rewriteLog } from './rewrite-log';

jest.setTimeout(600_000);

const exec = promisify(execFile);
const ROUNDS = 3;
const { file, spec: base } = breastCancerJob();
const spec = {
  ...base,
  rounds: ROUNDS,
  // Four sites, all four needed: with three neighbours each and a threshold of 3, one site gone at unmasking leaves the others' seeds short.
  minParticipants: 4,
  strategy: { name: 'fedavg', weighting: 'uniform' },
  secureAggregation: { range: 2, neighbours: 4, threshold: 3 },
  // No epsilonBudget: each site accepts the ε of the job's rounds, one noised input a round.
  dp: { noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 },
} as JobSpecInput;
const SITES = ['site-0', 'site-1', 'site-2', 'site-3'];

describe('a secure DP job whose round started again after its masked inputs went out', () => {
  const dir = tempDir('budget-spent');
  let coordinator: RunningCoordinator;
  let job: JobView;
  let rounds: RoundView[];
  let model: GlobalModel;
  const keys: KeyPair[] = [];
  /** each agent's refusals, as it reported them: 'site round code' */
  const refusals: string[] = [];
  /** site-3's key file, as a partner keeps it for fl-agent audit verify */
  const siteKey = () => {
    const keyFile = path.join(dir, 'site-3', 'key.json');
    if (!fs.existsSync(keyFile)) writeKeyFile(keyFile, keys[3]);
    return keyFile;
  };

  beforeAll(async () => {
    coordinator = await testCoordinator();
    const api = AdminApi.of(coordinator);
    const split = splitCsv(file, SITES.length, { seed: 7, holdout: 0, dir });
    for (const name of SITES) keys.push(await registerParticipant(api, name));
    const start = async (i: number) => {
      const agent = await startAgent(coordinator, SITES[i], split.parties[i], { keys: keys[i], journalFile: path.join(dir, `${SITES[i]}.jsonl`) });
      agent.on('failed', ({ round, code }: { round: number; code: string }) => refusals.push(`${SITES[i]} ${round} ${code}`));
      return agent;
    };
    const agents: ParticipantAgent[] = [];
    for (const i of SITES.keys()) agents.push(await start(i));
    let jobId = '';
    // site-3 goes away once its masked input of round 1 is in, before unmasking, and comes back once the job waits for it again.
    let dropped = false;
    agents[3].on('trained', ({ round, ack }: { round: number; ack: { ok: boolean } }) => {
      if (round !== 1 || !ack.ok || dropped) return;
      dropped = true;
      agents[3].stop();
    });
    let back: Promise<unknown> | undefined;
    coordinator.engine.events.on('job', (event: { type: string; job: string; status?: string }) => {
      if (!dropped || back || event.job !== jobId || event.type !== 'status' || event.status !== 'waiting') return;
      back = start(3).then((agent) => (agents[3] = agent));
    });
    try {
      jobId = (await api.createJob(spec)).id;
      // A paused job waits for an admin: the wait ends there too, and the tests tell which end it was.
      await eventually(() => api.job(jobId), (j) => ['completed', 'stopped', 'failed', 'paused'].includes(j.status), 300_000);
      job = await api.job(jobId);
      rounds = await api.rounds(jobId);
      model = await api.model(jobId);
    } finally {
      agents.forEach((a) => a.stop());
      await coordinator.close();
    }
  });

  it('started round 1 again after site-3 dropped out at unmasking', () => {
    expect(rounds[0].attempts).toBe(2);
    expect(rounds[0].contributors.map((c) => c.participant).sort()).toEqual(SITES);
  });

  it(`stops after ${ROUNDS - 1} committed rounds, saying the sites spent their privacy budget, with the model of round ${ROUNDS - 1}`, () => {
    expect(job).toMatchObject({ status: 'stopped', round: ROUNDS - 1 });
    expect(job.error).toBe('privacy budget: 4 sites have spent the ε they accepted for the job (PRIVACY_BUDGET_SPENT), leaving 0 that may take part, below the minimum of 4');
    expect(rounds.map((r) => r.round)).toEqual([1, 2]);
    expect(model).toMatchObject({ round: ROUNDS - 1, sha256: rounds[1].modelSha256 });
    expect(job.excluded.map((e) => `${e.participant} ${e.code}`).sort()).toEqual(SITES.map((s) => `${s} PRIVACY_BUDGET_SPENT`));
  });

  it(`asked each site once in round ${ROUNDS}, which each refused at its advertisement`, () => {
    expect(refusals.sort()).toEqual(SITES.map((s) => `${s} ${ROUNDS} PRIVACY_BUDGET_SPENT`));
  });

  it("passes audit verify: the coordinator's, and a site's against its journal", async () => {
    const storeFile = path.join(coordinator.config.dataDir, STORE_FILE);
    const store = await SqliteStore.open(storeFile, { readonly: true });
    try {
      const report = await verifyStore(store, storeFile);
      expect(report.failure).toBeUndefined();
      expect(report.lines).toContain(`job ${job.id}: 2 rounds, 2 recomputed from 8 retained updates, models match; statistics recomputed from 4 masked inputs`);
      const excluded = (await toArray(store.auditRecords())).map(({ text }) => JSON.parse(text) as { kind: string; data: { participant: string; code: string } });
      expect(excluded.filter((r) => r.kind === 'statistics.excluded').map((r) => `${r.data.participant} ${r.data.code}`).sort()).toEqual(SITES.map((s) => `${s} PRIVACY_BUDGET_SPENT`));
    } finally {
      await store.close();
    }
    const bundle = path.join(dir, 'bundle');
    await exec(process.execPath, [COORDINATOR_CLI, 'audit', 'export', '--data-dir', coordinator.config.dataDir, '--out', bundle]);
    const keyFile = siteKey();
    const verified = await runToEnd(AGENT_CLI, ['audit', 'verify', bundle, '--key', keyFile, '--journal', path.join(dir, 'site-3.jsonl'), '--coordinator-key', coordinator.identity.publicKey]);
    // The site recomputes both committed rounds from the masked inputs the bundle holds.
    expect(verified).toContain(`job ${job.id}: 2 rounds, 2 recomputed from 8 retained updates, models match`);
    expect(verified).toContain("journal: the coordinator's address is not known from a pin; checking all 4 entries (name it with --coordinator URL)");
    // Its statistics input, both attempts of round 1 (the first recorded when its masked step closed) and round 2's: round 3 it refused before masking.
    expect(verified).toContain('you are site-3 in the bundle: 4 accepted masked inputs of yours');
    expect(verified).toContain('your 4 accepted masked inputs are in the bundle unaltered; 3 were in committed sums');
    expect(verified).toContain('the 3 signed log heads you were shown are in the bundle: the log was not rewritten since');
    expect(verified).not.toMatch(/FAILED/);
  });

  it("fails a site's audit verify when the coordinator re-signs its log without the site's acknowledged masked input, or with another of its inputs summed in its place", async () => {
    const exported = path.join(dir, 'site-3-bundle');
    await exec(process.execPath, [COORDINATOR_CLI, 'audit', 'export', '--data-dir', coordinator.config.dataDir, '--out', exported, '--participant', 'site-3']);
    const { secretKey } = readKeyFile(path.join(coordinator.config.dataDir, 'coordinator-key.json'));
    const records = fs.readFileSync(path.join(exported, 'records.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditRecord);
    const inputOf = (r: AuditRecord, round: number) => r.kind === 'secagg.input' && r.data.participant === 'site-3' && r.data.round === round;
    const committing = (r: AuditRecord, round: number) => r.kind === 'model.committed' && r.data.round === round;
    const [first, second] = records.filter((r) => inputOf(r, 1)).map((r) => r.data.sha256 as string);
    const copyOf = (name: string) => {
      const copy = path.join(dir, name);
      fs.cpSync(exported, copy, { recursive: true });
      return copy;
    };
    const recommit = (r: AuditRecord, change: (contributors: AuditData<'model.committed'>['contributors']) => AuditData<'model.committed'>['contributors']) =>
      resignCommit(r.data as AuditData<'model.committed'>, secretKey, (a) => ({ ...a, contributors: change(a.contributors) }));
    // Round 2 summed as if site-3 had dropped out after its masked input was acknowledged.
    const dropped = copyOf('dropped');
    rewriteLog(dropped, secretKey, (r) => (inputOf(r, 2) ? null : committing(r, 2) ? recommit(r, (cs) => cs.filter((c) => c.participant !== 'site-3')) : r.data));
    // Round 1 summed with the input of its abandoned attempt in place of the one its commit took.
    const stale = copyOf('stale');
    rewriteLog(stale, secretKey, (r) =>
      inputOf(r, 1) && r.data.sha256 === second ? null : committing(r, 1) ? recommit(r, (cs) => cs.map((c) => (c.participant === 'site-3' ? { ...c, sha256: first } : c))) : r.data,
    );
    const keyFile = siteKey();
    const journal = path.join(dir, 'site-3.jsonl');
    const verify = (bundle: string) => runToEnd(AGENT_CLI, ['audit', 'verify', bundle, '--key', keyFile, '--journal', journal, '--coordinator-key', coordinator.identity.publicKey]);
    const where = (round: number) => `FAILED: your masked input of round ${round} of job ${job.id} as site-3 \\(${journal.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}, sent [^)]+\\): `;
    expect(second).toBeDefined();
    // Site-3 helped unmask both sums: the inputs they took were recorded, whatever attempt came before or after.
    const unmasked = 'missing: the coordinator acknowledged it, then asked you to help unmask the sum of the attempt that took it \\(your unmask answer of [^)]+\\), ' +
      "which it asks only once that attempt's masked inputs are recorded; no secagg.input record holds it";
    await expect(verify(dropped)).rejects.toThrow(new RegExp(`${where(2)}${unmasked}`));
    await expect(verify(stale)).rejects.toThrow(new RegExp(`${where(1)}${unmasked}`));
  });
});
