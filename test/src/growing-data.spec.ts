/**
 * A site's data file that grows while a job runs (a nightly export appending
 * the day's rows): the coordinator holds each update to the rows the site's
 * statistics reported, so the agent trains on the rows the job began with, says
 * so, and stays in every round; the rows appended join the next job.
 */
import * as fs from 'node:fs';
import type { RunningCoordinator } from '@fl/coordinator';
import type { ParticipantAgent } from '@fl/participant-agent';
import type { JobSpecInput } from '@fl/shared';
import { AdminApi, breastCancerJob, splitCsv, startAgent, tempDir, testCoordinator } from './harness';

jest.setTimeout(240_000);

describe('a data file that grows during a job', () => {
  let coordinator: RunningCoordinator;
  const agents: ParticipantAgent[] = [];

  afterAll(async () => {
    agents.forEach((a) => a.stop());
    await coordinator?.close();
  });

  it('trains on the rows the job began with, in every round, and says so', async () => {
    // Arrange: two sites; site-2's file gains 40 rows once its statistics are in
    coordinator = await testCoordinator();
    const api = AdminApi.of(coordinator);
    const { file, spec } = breastCancerJob();
    const split = splitCsv(file, 2, { seed: 9, holdout: 0, dir: tempDir('growing-data') });
    const grown = split.parties[1];
    const logged: string[] = [];
    agents.push(await startAgent(coordinator, 'site-1', split.parties[0]));
    const growing = await startAgent(coordinator, 'site-2', grown, { log: (line) => logged.push(line) });
    agents.push(growing);
    const before = fs.readFileSync(grown, 'utf8').trim().split('\n');
    growing.once('statistics', () => fs.appendFileSync(grown, before.slice(1, 41).join('\n') + '\n'));

    // Execute
    const job = await api.createJob({ ...spec, rounds: 3, minParticipants: 1, roundDeadlineSeconds: 60 } as JobSpecInput);
    await coordinator.engine.whenFinished(job.id);

    // Assert: site-2 in every round, with the rows it began with, and no round refused it
    expect((await api.job(job.id)).status).toBe('completed');
    const rounds = await api.rounds(job.id);
    expect(rounds).toHaveLength(3);
    for (const round of rounds) {
      expect(round.failures).toEqual([]);
      expect(round.contributors.find((c) => c.participant === 'site-2')?.numSamples).toBe(before.length - 1);
    }
    expect(logged).toContainEqual(`job ${job.id}: the data has 40 rows more than when the job began: it trains on the first ${before.length - 1}, the others join the next job`);
  });
});
