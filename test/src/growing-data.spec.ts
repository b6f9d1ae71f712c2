/**
 * A site's data file that grows while a job runs (a nightly export appending
 * the day's rows): the coordinator holds each update to the rows the site's
 * statistics reported, so the agent trains on the rows the job began with, says
 * so, and stays in every round; the rows appended join the next job.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunningCoordinator } from '@fl/coordinator';
import type { ParticipantAgent } from '@fl/participant-agent';
import type { JobSpecInput } from '@fl/shared';
import { AdminApi, breastCancerJob, registerParticipant, splitCsv, startAgent, tempDir, testCoordinator } from './harness';

jest.setTimeout(240_000);

describe('a data file that grows during a job', () => {
  const grownLine = (job: string, rows: number) => `job ${job}: the data has 40 rows more than when the job began: it uses the first ${rows}, the others join the next job`;
  let coordinator: RunningCoordinator;
  const agents: ParticipantAgent[] = [];

  afterAll(async () => {
    agents.forEach((a) => a.stop());
    await coordinator?.close();
  });

  beforeAll(async () => {
    coordinator = await testCoordinator();
  });

  it('trains on the rows the job began with, in every round, and says so', async () => {
    // Arrange: two sites; site-2's file gains 40 rows once its statistics are in
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
    expect(logged).toContainEqual(grownLine(job.id, before.length - 1));
  });

  /**
   * Two sites, the second journaling what it sends; its file gains 40 rows once its statistics are in, and its agent
   * is restarted (with the same key and journal) once it has trained, `meanwhile` run on the journal in between.
   */
  async function restartedOnGrownFile(names: [string, string], seed: number, meanwhile: (journalFile: string) => void = () => undefined) {
    agents.splice(0).forEach((a) => a.stop());
    const api = AdminApi.of(coordinator);
    const dir = tempDir(`growing-data-${names[1]}`);
    const split = splitCsv(breastCancerJob().file, 2, { seed, holdout: 0, dir });
    const grown = split.parties[1];
    const journalFile = path.join(dir, 'journal.jsonl');
    const keys = await registerParticipant(api, names[1]);
    const logged: string[] = [];
    agents.push(await startAgent(coordinator, names[0], split.parties[0]));
    const first = await startAgent(coordinator, names[1], grown, { keys, journalFile });
    agents.push(first);
    const before = fs.readFileSync(grown, 'utf8').trim().split('\n');
    first.once('statistics', () => fs.appendFileSync(grown, before.slice(1, 41).join('\n') + '\n'));
    const restarted = new Promise<ParticipantAgent>((resolve) =>
      first.once('trained', () => {
        first.stop();
        meanwhile(journalFile);
        void startAgent(coordinator, names[1], grown, { keys, journalFile, log: (line) => logged.push(line) }).then((second) => {
          agents.push(second);
          resolve(second);
        });
      }),
    );
    return { api, rows: before.length - 1, restarted, logged };
  }

  it('still trains on them after its agent restarts during the job: the journal kept them', async () => {
    // Arrange
    const { api, rows, restarted, logged } = await restartedOnGrownFile(['site-3', 'site-4'], 11);

    // Execute
    const job = await api.createJob({ ...breastCancerJob().spec, rounds: 4, minParticipants: 2, roundDeadlineSeconds: 60 } as JobSpecInput);
    await restarted;
    await coordinator.engine.whenFinished(job.id);

    // Assert: the restarted agent trained on the rows the job began with, and no round refused site-4 (the restart itself may cost it a round)
    expect((await api.job(job.id)).status).toBe('completed');
    const rounds = await api.rounds(job.id);
    expect(rounds).toHaveLength(4);
    expect(rounds.flatMap((r) => r.failures).filter((f) => f.reason !== 'disconnected')).toEqual([]);
    for (const round of [rounds[0], rounds[3]]) expect(round.contributors.find((c) => c.participant === 'site-4')?.numSamples).toBe(rows);
    expect(logged).toContainEqual(grownLine(job.id, rows));
  });

  it('still trains on them after a restart when the journal has its statistics without their answer (killed before the ack came)', async () => {
    // Arrange: the journal left as a kill before the statistics' ack leaves it: their line, no answer line
    const { api, rows, restarted, logged } = await restartedOnGrownFile(['site-5', 'site-6'], 13, (journalFile) => {
      const lines = fs.readFileSync(journalFile, 'utf8').trimEnd().split('\n');
      const { nonce } = JSON.parse(lines.find((l) => l.includes('"kind":"statistics"'))!) as { nonce: string };
      fs.writeFileSync(journalFile, lines.filter((l) => !l.includes(`"kind":"answer","nonce":"${nonce}"`)).join('\n') + '\n');
    });
    const trainedAgain = restarted.then((second) => new Promise<{ ok: boolean }>((resolve) => second.once('trained', ({ ack }: { ack: { ok: boolean } }) => resolve(ack))));

    // Execute
    const job = await api.createJob({ ...breastCancerJob().spec, rounds: 20, minParticipants: 2, roundDeadlineSeconds: 60 } as JobSpecInput);
    const ack = await trainedAgain;
    await coordinator.engine.control(job.id, 'stop', 'user:test');
    await coordinator.engine.whenFinished(job.id);

    // Assert: the restarted agent's update was accepted, trained on the rows the job began with
    expect(ack).toMatchObject({ ok: true });
    expect(logged).toContainEqual(grownLine(job.id, rows));
  });
});
