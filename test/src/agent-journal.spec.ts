/**
 * An agent whose journal cannot be written (a read-only file, a full disk):
 * its messages are still sent, and it says so once when the journal starts
 * failing and once when it can be written again, not at every message. One
 * that cannot be flushed to disk keeps each message's lines once.
 */
import * as fs from 'node:fs';
// The module object itself, whose functions the journal calls: a spy on it is seen there.
import nodeFs from 'node:fs';
import * as path from 'node:path';
import type { RunningCoordinator } from '@fl/coordinator';
import { readJournal, type ParticipantAgent } from '@fl/participant-agent';
import type { JobSpecInput } from '@fl/shared';
import { AdminApi, breastCancerJob, eventually, startAgent, tempDir, testCoordinator } from './harness';

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
    // The job ends at the commit, which may come before the agent has read its last acknowledgement.
    const rounds = await eventually(() => readJournal(journalFile).map((e) => [e.round, e.accepted]), (r) => r.at(-1)?.[1] !== undefined);
    expect(rounds).toEqual([[3, true], [4, true], [5, true]]);
  });

  it('logs once that the journal is not flushed to disk, and once when it is again, journaling each message once', async () => {
    // Arrange: the disk refuses to flush (EIO) until round 2 is trained
    agent?.stop();
    const api = AdminApi.of(coordinator);
    const { file, spec } = breastCancerJob();
    const journalFile = path.join(tempDir('agent-journal'), 'journal.jsonl');
    let failing = true;
    const fdatasync = nodeFs.fdatasyncSync;
    const flush = jest.spyOn(nodeFs, 'fdatasyncSync').mockImplementation((fd) => {
      if (failing) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      fdatasync(fd);
    });
    const logged: string[] = [];
    try {
      agent = await startAgent(coordinator, 'site-2', file, { journalFile, log: (line) => logged.push(line) });
      agent.on('trained', ({ round }: { round: number }) => {
        if (round === 2) failing = false;
      });

      // Execute
      const job = await api.createJob({ ...spec, rounds: 5, minParticipants: 1, roundDeadlineSeconds: 60 } as JobSpecInput);
      await coordinator.engine.whenFinished(job.id);
    } finally {
      flush.mockRestore();
    }

    // Assert: two lines about flushing, in order; every update journaled once, with its answer
    expect(logged.filter((line) => line.includes('journal'))).toEqual([
      `cannot flush the journal ${journalFile} to disk: EIO: i/o error, fdatasync; messages are journaled, but a power loss may take their lines`,
      `the journal ${journalFile} is flushed to disk again`,
    ]);
    const rounds = await eventually(() => readJournal(journalFile).map((e) => [e.round, e.accepted]), (r) => r.at(-1)?.[1] !== undefined);
    expect(rounds).toEqual([[1, true], [2, true], [3, true], [4, true], [5, true]]);
  });
});
