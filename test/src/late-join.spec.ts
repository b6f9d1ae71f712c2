/**
 * A partner whose agent connects after a job's statistics phase (it was down,
 * or started late), or whose export lacked a column of the job until it was
 * corrected: it is asked for its statistics, admitted by them, and trains in
 * the job's later rounds, its claims held to the rows it reported.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { JobEvent, RunningCoordinator } from '@fl/coordinator';
import type { ParticipantAgent } from '@fl/participant-agent';
import { AdminApi, DATA_DIR, featuresOf, splitCsv, startAgent, tempDir, testCoordinator, writeCsv } from './harness';

jest.setTimeout(120_000);

describe('a site that connects after the statistics phase', () => {
  let coordinator: RunningCoordinator;
  const agents: ParticipantAgent[] = [];

  afterAll(async () => {
    agents.forEach((a) => a.stop());
    await coordinator?.close();
  });

  it('joins the running job once its statistics admit it', async () => {
    coordinator = await testCoordinator();
    const api = AdminApi.of(coordinator);
    const file = `${DATA_DIR}/breast_cancer.csv`;
    const split = splitCsv(file, 3, { seed: 11, holdout: 0, dir: tempDir('late-join') });
    agents.push(await startAgent(coordinator, 'site-a', split.parties[0]), await startAgent(coordinator, 'site-b', split.parties[1]));
    const lateLog: string[] = [];
    let late: Promise<ParticipantAgent> | undefined;
    // Enough rounds for a loaded machine; the job is stopped once the late site has contributed to one.
    coordinator.engine.events.on('job', (event: JobEvent) => {
      if (event.type !== 'round') return;
      if (event.round.round === 2) late ??= startAgent(coordinator, 'site-c', split.parties[2], { log: (m) => lateLog.push(m) });
      if (event.round.contributors.some((c) => c.participant === 'site-c')) void api.request('POST', `/api/jobs/${event.job}/stop`);
    });
    const job = await api.createJob({ model: 'logistic', features: featuresOf(file, 'diagnosis'), target: 'diagnosis', rounds: 500, minParticipants: 2 });
    await coordinator.engine.whenFinished(job.id);
    agents.push(await late!);

    const rounds = (await api.request<{ round: number; contributors: { participant: string; numSamples: number }[] }[]>('GET', `/api/jobs/${job.id}/rounds`)).body;
    expect(rounds.length).toBeLessThan(500);
    expect(rounds.at(-1)!.contributors.map((c) => c.participant).sort()).toEqual(['site-a', 'site-b', 'site-c']);
    const stored = (await coordinator.store.getJob(job.id))!;
    const rows = stored.admission.reportedRows['site-c'];
    expect(rows).toBe(189);
    // Its updates claim the rows it trains on, within what it reported; the job's statistics are still the first two sites'.
    for (const round of rounds) for (const c of round.contributors) if (c.participant === 'site-c') expect(c.numSamples).toBeLessThanOrEqual(rows);
    expect(stored.preprocessing!.rows).toBe(stored.admission.reportedRows['site-a'] + stored.admission.reportedRows['site-b']);
    expect(lateLog).toContainEqual(expect.stringMatching(/statistics of 189 rows accepted/));
  });

  it('joins once the column its export lacked is added, without a restart', async () => {
    // Only this test's sites and handlers.
    for (const agent of agents.splice(0)) agent.stop();
    coordinator.engine.events.removeAllListeners('job');
    const api = AdminApi.of(coordinator);
    const file = `${DATA_DIR}/breast_cancer.csv`;
    const dir = tempDir('late-fix');
    const split = splitCsv(file, 3, { seed: 5, holdout: 0, dir });
    const full = fs.readFileSync(split.parties[2], 'utf8');
    // The third site's export lacks a column of the job, until the site corrects it.
    const dropped = split.header.indexOf('worst_area');
    const rows = full.trim().split('\n').slice(1).map((line) => line.split(','));
    const exported = path.join(dir, 'export.csv');
    writeCsv(exported, split.header.filter((_, j) => j !== dropped), rows.map((r) => r.filter((_, j) => j !== dropped)));
    for (const [name, data] of [['fix-a', split.parties[0]], ['fix-b', split.parties[1]]]) agents.push(await startAgent(coordinator, name, data));
    const log: string[] = [];
    agents.push(await startAgent(coordinator, 'fix-c', exported, { log: (m) => log.push(m) }));
    let jobId = '';
    coordinator.engine.events.on('job', (event: JobEvent) => {
      if (event.type !== 'round' || event.job !== jobId) return;
      if (event.round.round === 2) fs.writeFileSync(exported, full);
      if (event.round.contributors.some((c) => c.participant === 'fix-c')) void api.request('POST', `/api/jobs/${event.job}/stop`);
    });
    const job = await api.createJob({ model: 'logistic', features: featuresOf(file, 'diagnosis'), target: 'diagnosis', rounds: 500, minParticipants: 2 });
    jobId = job.id;
    await coordinator.engine.whenFinished(job.id);

    const rounds = (await api.request<{ round: number; contributors: { participant: string }[]; failures: { participant: string; code?: string }[] }[]>('GET', `/api/jobs/${job.id}/rounds`)).body;
    // Before the correction, the site's code in the round; after it, its update.
    expect(rounds[0].failures).toEqual([expect.objectContaining({ participant: 'fix-c', code: 'DATA_MISSING_COLUMNS' })]);
    expect(rounds.length).toBeLessThan(500);
    expect(rounds.at(-1)!.contributors.map((c) => c.participant).sort()).toEqual(['fix-a', 'fix-b', 'fix-c']);
    expect((await coordinator.store.getJob(job.id))!.admission.reportedRows['fix-c']).toBe(rows.length);
    expect(log).toContainEqual(expect.stringMatching(/statistics of \d+ rows accepted/));
  });
});
