/**
 * A SCAFFOLD round under way when a site is revoked and the coordinator
 * restarts: every site that trained the round holds, in its journal, the
 * per-round config (the correction's SHA-256) it trained with, and refuses
 * the same round with another. Four real agents over real sockets, the
 * coordinator on SQLite stopped and started again on the same data directory
 * and port before the round commits: the round is asked again with the
 * corrections first sent, the job completes with every site still approved
 * contributing, and `audit verify` recomputes every round.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { RunningCoordinator } from '@fl/coordinator';
import { readJournal, type ParticipantAgent } from '@fl/participant-agent';
import { writeKeyFile, type TrainMessage } from '@fl/shared';
import { AdminApi, DATA_DIR, eventually, featuresOf, splitCsv, startAgent, tempDir, testCoordinator } from './harness';
import { AGENT_CLI, COORDINATOR_CLI, PY_VERIFIER, PYTHON, runToEnd } from './processes';

jest.setTimeout(180_000);

const SITES = ['site-1', 'site-2', 'site-3', 'site-4'];
const ENDED = ['completed', 'failed', 'paused', 'stopped'];

describe('a SCAFFOLD round under way when a site is revoked and the coordinator restarts', () => {
  const dir = tempDir('scaffold-restart');
  const journals = Object.fromEntries(SITES.map((site) => [site, path.join(dir, `${site}.jsonl`)]));
  /** site-1's key, in a file, for its own check of the log */
  const keyFile = path.join(dir, 'site-1.key.json');
  const agents: ParticipantAgent[] = [];
  let first: RunningCoordinator;
  let second: RunningCoordinator | undefined;
  let jobId: string;
  /** site-4 answers no train request of round 2 while this holds: round 2 stays open until the coordinator stops */
  let holding = true;
  let held = 0;

  beforeAll(async () => {
    // Prepare: four sites; site-4 leaves round 2 unanswered on the first coordinator
    first = await testCoordinator();
    const api = AdminApi.of(first);
    const file = path.join(DATA_DIR, 'breast_cancer.csv');
    const split = splitCsv(file, SITES.length, { seed: 11, holdout: 0, dir });
    const keys = writeKeyFile(keyFile);
    await api.registerParticipant('site-1', 'site-1 Ltd', keys.publicKey);
    for (const [i, site] of SITES.entries()) agents.push(await startAgent(first, site, split.parties[i], { journalFile: journals[site], ...(i === 0 && { keys }) }));
    const slow = agents[3] as unknown as { train: (message: TrainMessage, received: number) => Promise<void> };
    const train = slow.train.bind(agents[3]);
    slow.train = async (message, received) => {
      if (holding && message.header.round === 2) return void held++;
      return train(message, received);
    };
    const job = await api.createJob({
      model: 'logistic',
      features: featuresOf(file, 'diagnosis'),
      target: 'diagnosis',
      rounds: 3,
      minParticipants: 3,
      roundDeadlineSeconds: 600,
      evaluateEvery: 0,
      strategy: { name: 'scaffold' },
    });
    jobId = job.id;
    // Round 2 is under way: sites 1 to 3 have had their updates accepted, site-4 has its request
    const trained = (site: string) => fs.existsSync(journals[site]) && readJournal(journals[site]).some((e) => e.job === jobId && e.round === 2 && e.accepted === true);
    await eventually(() => SITES.slice(0, 3).every(trained) && held > 0, (done) => done, 120_000);

    // Execute: an admin revokes site-3; the coordinator stops before round 2 commits and starts again on the same data directory and port
    expect((await api.request('POST', '/api/participants/site-3/revoke', { reason: 'dishonest' })).status).toBe(200);
    await first.close();
    holding = false;
    second = await testCoordinator({ dataDir: first.config.dataDir, port: first.port });
    await eventually(async () => (await AdminApi.of(second!).job(jobId)).status, (status) => ENDED.includes(status), 120_000);
  });

  afterAll(async () => {
    for (const agent of agents) agent.stop();
    await first?.close();
    await second?.close();
  });

  it('completes the job, every site still approved contributing to each round after the revocation', async () => {
    const api = AdminApi.of(second!);
    expect(await api.job(jobId)).toMatchObject({ status: 'completed', round: 3, error: null });
    const rounds = await api.rounds(jobId);
    expect(rounds.map((r) => r.contributors.map((c) => c.participant).sort())).toEqual([SITES, ['site-1', 'site-2', 'site-4'], ['site-1', 'site-2', 'site-4']]);
    expect(rounds.flatMap((r) => r.failures)).toEqual([]);
  });

  it('asked round 2 again of the sites that had trained it with the per-round config they were first sent, which they accepted', () => {
    for (const site of ['site-1', 'site-2']) {
      const round2 = readJournal(journals[site]).filter((e) => e.job === jobId && e.round === 2);
      expect(round2.map((e) => e.accepted)).toEqual([true, true]);
      expect(round2[0].config).toEqual({ correctionSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(round2[1].config).toEqual(round2[0].config);
    }
  });

  it("names site-3 in round 3's commit, the first to drop its control variate, and in no other", async () => {
    const { records } = await AdminApi.of(second!).audit();
    const committed = records.filter((r) => r.kind === 'model.committed' && r.data.job === jobId);
    expect(committed.map((r) => r.data.revoked)).toEqual([undefined, undefined, ['site-3']]);
  });

  it('leaves an audit log that verifies: every round recomputed by the coordinator, the site checks its updates against it, and so does the independent verifier', async () => {
    const { dataDir } = second!.config;
    const verified = await runToEnd(COORDINATOR_CLI, ['audit', 'verify', '--data-dir', dataDir]);
    expect(verified).toContain('3 rounds, 3 recomputed from 10 retained updates, models and strategy states match (scaffold)');
    const bundle = path.join(dir, 'bundle');
    await runToEnd(COORDINATOR_CLI, ['audit', 'export', '--data-dir', dataDir, '--out', bundle]);
    const checked = await runToEnd(AGENT_CLI, ['audit', 'verify', bundle, '--key', keyFile, '--journal', journals['site-1'], '--coordinator-key', second!.identity.publicKey]);
    // Round 2's update as first sent, recorded before the revocation, and as sent again after the restart: the same training, the same bytes.
    expect(checked).toContain('your 4 accepted updates are in the bundle unaltered; 4 were folded into committed models');
    const independent = await promisify(execFile)(PYTHON, [PY_VERIFIER, bundle, '--key', second!.identity.publicKey]);
    expect(independent.stdout).toMatch(/^OK$/m);
  });
});
