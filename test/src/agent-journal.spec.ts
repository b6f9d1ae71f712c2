/**
 * An agent whose journal cannot be written (a read-only file, a full disk):
 * its messages are still sent, and it says so once when the journal starts
 * failing and once when it can be written again, not at every message.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunningCoordinator } from '@fl/coordinator';
import { readJournal, type ParticipantAgent } from '@fl/participant-agent';
import type { JobSpecInput } from '@fl/shared';
import { AdminApi, breastCancerJob, startAgent, tempDir, testCoordinator } from './harness';

jest.setTimeout(120_000);

describe('an agent journal that cannot be written', () => {
  let coordinator: RunningCoordinator;
  let agent: ParticipantAgent | undefined;

  beforeAll(async () => {
    coordinator = await testCoordinator();
  });

  afterAll(async () => {
    agent?.stop();
    await coordinator?.close();
  });

  it('logs once that messages are not journaled, and once when the journal is written again', async () => {
    // Arrange: the journal's path is a directory, which no one (root neither) can append to; removed once round 2 is trained
    const api = AdminApi.of(coordinator);
    const { file, spec } = breastCancerJob();
    const journalFile = path.join(tempDir('agent-journal'), 'journal.jsonl');
    fs.mkdirSync(journalFile);
    const logged: string[] = [];
    agent = await startAgent(coordinator, 'site-1', file, { journalFile, log: (line) => logged.push(line) });
    agent.on('trained', ({ round }: { round: number }) => {
      if (round === 2) fs.rmdirSync(journalFile);
    });

    // Execute: statistics and rounds 1 and 2 sent with the journal unwritable (two appends each), rounds 3 to 5 after
    const job = await api.createJob({ ...spec, rounds: 5, minParticipants: 1, roundDeadlineSeconds: 60 } as JobSpecInput);
    await coordinator.engine.whenFinished(job.id);

    // Assert: every round took the site's update; two lines about the journal, in order; the journal holds what was sent after
    expect((await api.rounds(job.id)).map((r) => r.contributors.map((c) => c.participant))).toEqual([['site-1'], ['site-1'], ['site-1'], ['site-1'], ['site-1']]);
    expect(logged.filter((line) => line.includes('journal'))).toEqual([
      expect.stringMatching(new RegExp(`^cannot append to the journal ${journalFile}: .*EISDIR.*; messages are still sent, but not journaled until it can be written again$`)),
      `the journal ${journalFile} can be written again: messages are journaled from now on (those sent meanwhile are not in it)`,
    ]);
    expect(readJournal(journalFile).map((e) => [e.round, e.accepted])).toEqual([[3, true], [4, true], [5, true]]);
  });
});
