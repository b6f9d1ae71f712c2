/**
 * Chaos: during one job the coordinator process is killed with SIGKILL twice and
 * started again on the same data directory, and one agent process is killed and
 * started again. The job completes all its rounds; the stored rounds are numbered
 * without gaps and each round's contributors are recorded once, and every site's
 * agent verifies the exported log against what it sent.
 */
import * as path from 'node:path';
import type { JobRecord, RoundRecord } from '@fl/coordinator';
import { sha256Hex } from '@fl/shared';
import { AdminApi, DATA_DIR, eventually, featuresOf, splitCsv, tempDir } from './harness';
import { AGENT_CLI, COORDINATOR_CLI, run, runToEnd, startCoordinatorProcess, freePort, type Running } from './processes';

jest.setTimeout(300_000);

describe('a job through coordinator crashes and an agent restart', () => {
  const dir = tempDir('chaos');
  const token = 'chaos-admin-token-0123456789';
  const processes: Running[] = [];
  let coordinator: Running & { url: string };
  let api: AdminApi;
  let jobId: string;
  const agentArgs: string[][] = [];
  const killed: Running[] = [];

  const startCoordinator = async (port: number) => {
    coordinator = await startCoordinatorProcess(['--port', String(port), '--data-dir', path.join(dir, 'coordinator'), '--admin-token', token]);
    processes.push(coordinator);
  };
  const committed = async () => (await api.request<RoundRecord[]>('GET', `/api/jobs/${jobId}/rounds`)).body.length;
  const killCoordinator = async () => {
    coordinator.child.kill('SIGKILL');
    await new Promise((r) => coordinator.child.once('exit', r));
  };

  beforeAll(async () => {
    const port = await freePort();
    // startCoordinatorProcess passes --port 0 first; the later flag wins.
    await startCoordinator(port);
    api = new AdminApi(coordinator.url, token);
    const file = `${DATA_DIR}/breast_cancer.csv`;
    const split = splitCsv(file, 3, { seed: 5, holdout: 0, dir });
    for (const [i, data] of split.parties.entries()) {
      const name = `party-${i + 1}`;
      const keyFile = path.join(dir, name, 'key.json');
      const publicKey = /public key (\S+)/.exec(await runToEnd(AGENT_CLI, ['keygen', '--out', keyFile]))![1];
      await api.request('POST', '/api/participants', { name, organisation: name, publicKey });
      agentArgs.push(['run', '--coordinator', coordinator.url, '--key', keyFile, '--data', data]);
      processes.push(run(AGENT_CLI, agentArgs[i]));
    }
    const created = await api.request<JobRecord>('POST', '/api/jobs', {
      model: 'logistic',
      features: featuresOf(file, 'diagnosis'),
      target: 'diagnosis',
      rounds: 40,
      localEpochs: 5,
      minParticipants: 2,
      roundDeadlineSeconds: 20,
    });
    jobId = created.body.id;

    await eventually(committed, (n) => n >= 3, 120_000);
    killed.push(coordinator);
    await killCoordinator();
    await startCoordinator(port);

    await eventually(committed, (n) => n >= 12, 120_000);
    killed.push(coordinator);
    await killCoordinator();
    await startCoordinator(port);

    await eventually(committed, (n) => n >= 20, 120_000);
    const agent = processes[1];
    agent.child.kill('SIGKILL');
    killed.push(agent);
    processes.push(run(AGENT_CLI, agentArgs[0]));

    await eventually(async () => (await api.request<JobRecord>('GET', `/api/jobs/${jobId}`)).body.status, (s) => s === 'completed' || s === 'failed', 180_000);
  });

  afterAll(() => {
    for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  });

  it('really killed two coordinator processes and an agent process with SIGKILL', async () => {
    await eventually(() => killed.every((p) => p.child.signalCode !== null), (done) => done);
    expect(killed.map((p) => p.child.signalCode)).toEqual(['SIGKILL', 'SIGKILL', 'SIGKILL']);
    expect(new Set(killed.map((p) => p.child.pid)).size).toBe(3);
  });

  it('completes all rounds, numbered without gaps, each contributor counted once', async () => {
    const job = (await api.request<JobRecord>('GET', `/api/jobs/${jobId}`)).body;
    expect(job).toMatchObject({ status: 'completed', round: 40 });
    const rounds = (await api.request<RoundRecord[]>('GET', `/api/jobs/${jobId}/rounds`)).body;
    expect(rounds.map((r) => r.round)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    for (const round of rounds) {
      const names = round.contributors.map((c) => c.participant);
      expect(new Set(names).size).toBe(names.length);
      expect(names.length).toBeGreaterThanOrEqual(2);
    }
  });

  it('lets the restarted agent and the others reconnect to the restarted coordinator by themselves', async () => {
    const online = await eventually(
      async () => (await api.request<{ name: string; online: boolean }[]>('GET', '/api/participants')).body,
      (list) => list.every((p) => p.online),
      60_000,
    );
    expect(online.map((p) => p.name).sort()).toEqual(['party-1', 'party-2', 'party-3']);
  });

  it('keeps one model per round, each with the hash its round recorded', async () => {
    const rounds = (await api.request<RoundRecord[]>('GET', `/api/jobs/${jobId}/rounds`)).body;
    for (const round of [1, 13, 40]) {
      const response = await fetch(`${coordinator.url}/api/jobs/${jobId}/model?round=${round}`, {
        headers: { authorization: `Bearer ${token}`, accept: 'application/octet-stream' },
      });
      expect(response.headers.get('x-model-sha256')).toBe(rounds[round - 1].modelSha256);
      expect(sha256Hex(new Uint8Array(await response.arrayBuffer()))).toBe(rounds[round - 1].modelSha256);
    }
  });

  it('leaves an audit log that verifies, every round recomputed, across the kills', async () => {
    const verified = await runToEnd(COORDINATOR_CLI, ['audit', 'verify', '--data-dir', path.join(dir, 'coordinator')]);
    expect(verified).toMatch(/40 rounds, 40 recomputed/);
  });

  it("lets every site's agent verify the exported log against its journal, across the kills", async () => {
    // A round under way at a kill had acknowledged updates it never recorded: the log says the job was taken up again after.
    const bundle = path.join(dir, 'bundle');
    await runToEnd(COORDINATOR_CLI, ['audit', 'export', '--data-dir', path.join(dir, 'coordinator'), '--out', bundle]);
    // Exit status 0 for each (runToEnd); a site that never sent an update (not selected, or left out) has no journal to check.
    const outputs = await Promise.all(agentArgs.map((args) => runToEnd(AGENT_CLI, ['audit', 'verify', bundle, '--key', args[args.indexOf('--key') + 1]])));
    const checked = outputs.filter((output) => /your \d+ accepted updates? (is|are) in the bundle unaltered/.test(output));
    expect(checked.length).toBeGreaterThanOrEqual(2);
  });
});
