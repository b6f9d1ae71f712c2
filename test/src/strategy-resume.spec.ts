/**
 * A stateful strategy across a coordinator crash: a SCAFFOLD job (a control
 * variate per site, a correction per site in every train request) whose
 * coordinator process is killed with SIGKILL mid-job and started again on the
 * same data directory. The job completes, and `audit verify` recomputes every
 * round from the retained updates and the state the round before committed: a
 * coordinator that resumed without its state (from zero control variates) would
 * commit states, and corrections, that the recomputation does not give.
 */
import * as path from 'node:path';
import { SqliteStore, STORE_FILE, type JobRecord, type RoundRecord } from '@fl/coordinator';
import { decodeState } from '@fl/shared';
import { AdminApi, DATA_DIR, eventually, featuresOf, splitCsv, tempDir } from './harness';
import { COORDINATOR_CLI, freePort, runToEnd, startCoordinatorProcess, startRegisteredAgents, type Running } from './processes';

jest.setTimeout(300_000);

const ROUNDS = 12;

describe('a SCAFFOLD job through a coordinator killed with SIGKILL', () => {
  const dir = tempDir('strategy-resume');
  const token = 'resume-admin-token-0123456789';
  const processes: Running[] = [];
  let coordinator: Running & { url: string };
  let api: AdminApi;
  let jobId: string;
  let killedAt = 0;
  let killed: Running;

  const startCoordinator = async (port: number) => {
    coordinator = await startCoordinatorProcess(['--port', String(port), '--data-dir', path.join(dir, 'coordinator'), '--admin-token', token]);
    processes.push(coordinator);
  };
  const committed = async () => (await api.request<RoundRecord[]>('GET', `/api/jobs/${jobId}/rounds`)).body.length;

  beforeAll(async () => {
    const port = await freePort();
    await startCoordinator(port);
    api = new AdminApi(coordinator.url, token);
    const file = `${DATA_DIR}/breast_cancer.csv`;
    const split = splitCsv(file, 3, { seed: 8, holdout: 0, dir });
    processes.push(...(await startRegisteredAgents(api, coordinator.url, dir, split.parties)));
    const created = await api.request<JobRecord>('POST', '/api/jobs', {
      model: 'logistic',
      features: featuresOf(file, 'diagnosis'),
      target: 'diagnosis',
      rounds: ROUNDS,
      localEpochs: 2,
      minParticipants: 3,
      roundDeadlineSeconds: 30,
      strategy: { name: 'scaffold' },
    });
    jobId = created.body.id;

    killedAt = await eventually(committed, (n) => n >= 3, 120_000);
    killed = coordinator;
    coordinator.child.kill('SIGKILL');
    await new Promise((r) => killed.child.once('exit', r));
    await startCoordinator(port);
    await eventually(async () => (await api.request<JobRecord>('GET', `/api/jobs/${jobId}`)).body.status, (s) => s === 'completed' || s === 'failed', 180_000);
  });

  afterAll(async () => {
    for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  });

  it('killed the coordinator with SIGKILL mid-job, and the job completed all its rounds', async () => {
    expect(killed.child.signalCode).toBe('SIGKILL');
    expect(killedAt).toBeLessThan(ROUNDS);
    const job = (await api.request<JobRecord>('GET', `/api/jobs/${jobId}`)).body;
    expect(job).toMatchObject({ status: 'completed', round: ROUNDS });
    const rounds = (await api.request<RoundRecord[]>('GET', `/api/jobs/${jobId}/rounds`)).body;
    expect(rounds.map((r) => r.round)).toEqual(Array.from({ length: ROUNDS }, (_, i) => i + 1));
  });

  it('kept a control variate for every site through to the last round', async () => {
    const store = await SqliteStore.open(path.join(dir, 'coordinator', STORE_FILE), { readonly: true });
    try {
      const stored = (await store.getStrategyState(jobId))!;
      expect(stored.round).toBe(ROUNDS);
      expect(Object.keys(decodeState(stored.bytes)!)).toEqual(['c', 'c/party-1', 'c/party-2', 'c/party-3']);
    } finally {
      await store.close();
    }
  });

  it('leaves an audit log in which every round, model and state, recomputes across the kill', async () => {
    const verified = await runToEnd(COORDINATOR_CLI, ['audit', 'verify', '--data-dir', path.join(dir, 'coordinator')]);
    expect(verified).toContain(`${ROUNDS} rounds, ${ROUNDS} recomputed from ${3 * ROUNDS} retained updates, models and strategy states match (scaffold)`);
  });
});
