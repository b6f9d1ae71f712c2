/**
 * Participants that vanish: an agent process killed with SIGKILL mid-job, and a
 * participant that stays connected but never answers. Each round closes without
 * them (on the disconnect, or at its deadline) and the job goes on to the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Socket } from 'socket.io-client';
import { ManualClock, type JobEvent, type RunningCoordinator } from '@fl/coordinator';
import { generateKeyPair, writeKeyFile } from '@fl/shared';
import type { ParticipantAgent } from '@fl/participant-agent';
import { connectRaw, handshakeAuth } from './raw-client';
import { AdminApi, DATA_DIR, eventually, featuresOf, registerParticipant, splitCsv, startAgent, tempDir, testCoordinator } from './harness';
import { AGENT_CLI } from './processes';

jest.setTimeout(180_000);

/** The coordinator's deadlines move only when the test says: a silent participant's deadline comes when the others have answered. */
const clock = new ManualClock();
const DEADLINE_SECONDS = 30;

describe('participants that disappear mid-job', () => {
  let coordinator: RunningCoordinator;
  let api: AdminApi;
  let agents: ParticipantAgent[];
  let child: ChildProcess;
  let childOutput = '';
  let silent: Socket;
  let jobId: string;

  beforeAll(async () => {
    expect(fs.existsSync(AGENT_CLI)).toBe(true); // built by `npm test`'s pretest
    coordinator = await testCoordinator({}, clock);
    api = AdminApi.of(coordinator);
    const dir = tempDir('dropout');
    const file = `${DATA_DIR}/breast_cancer.csv`;
    const split = splitCsv(file, 3, { seed: 11, holdout: 0, dir });
    agents = [await startAgent(coordinator, 'site-a', split.parties[0]), await startAgent(coordinator, 'site-b', split.parties[1])];

    // site-c runs as its own process, the way a partner runs fl-agent.
    const keyFile = path.join(dir, 'site-c', 'key.json');
    const keys = writeKeyFile(keyFile, generateKeyPair());
    await api.registerParticipant('site-c', 'Site C', keys.publicKey);
    child = spawn(
      process.execPath,
      [AGENT_CLI, 'run', '--coordinator', coordinator.url, '--key', keyFile, '--data', split.parties[2], '--coordinator-key', coordinator.identity.publicKey],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (d) => (childOutput += d));
    child.stderr!.on('data', (d) => (childOutput += d));
    await eventually(
      () => api.request<{ name: string; online: boolean }[]>('GET', '/api/participants'),
      (r) => r.body.some((p) => p.name === 'site-c' && p.online),
      60_000,
    );

    // Kill site-c as soon as round 1 is committed: round 2's request is then already on its way.
    coordinator.engine.events.on('job', (event: JobEvent) => {
      if (event.type === 'round' && event.round.round === 1 && child.exitCode === null) child.kill('SIGKILL');
    });
    const job = await api.createJob({
      model: 'logistic',
      features: featuresOf(file, 'diagnosis'),
      target: 'diagnosis',
      rounds: 4,
      minParticipants: 2,
      roundDeadlineSeconds: 60,
      // no evaluation phase between the rounds: the kill lands in round 2 itself
      evaluateEvery: 0,
    });
    jobId = job.id;
    await coordinator.engine.whenFinished(jobId);
  });

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    silent?.close();
    agents?.forEach((a) => a.stop());
    await coordinator?.close();
  });

  it('completes the job with the participants that remain', async () => {
    const job = await api.job(jobId);
    expect(job.status).toBe('completed');
    const rounds = await api.rounds(jobId);
    expect(rounds.map((r) => r.round)).toEqual([1, 2, 3, 4]);
    expect(rounds[0].contributors.map((c) => c.participant).sort()).toEqual(['site-a', 'site-b', 'site-c']);
  }, 60_000);

  it('records the killed agent as a failure of the round it was in, and leaves it out afterwards', async () => {
    const rounds = await api.rounds(jobId);
    expect(child.signalCode).toBe('SIGKILL');
    expect(rounds[1].failures).toEqual([{ participant: 'site-c', reason: 'disconnected' }]);
    expect(rounds[1].contributors.map((c) => c.participant).sort()).toEqual(['site-a', 'site-b']);
    for (const round of rounds.slice(2)) expect(round.selected).not.toContain('site-c');
  });

  it('closes each phase at its deadline when a connected participant never answers', async () => {
    const keys = await registerParticipant(api, 'silent');
    ({ socket: silent } = await connectRaw(coordinator.url, handshakeAuth(keys)));
    // What the two honest agents answered, phase by phase (statistics, each round, the last evaluation).
    const answers: string[] = [];
    for (const agent of agents) {
      agent.on('statistics', (job: string) => answers.push(job));
      agent.on('trained', ({ job }: { job: string }) => answers.push(job));
      agent.on('evaluated', ({ job }: { job: string }) => answers.push(job));
    }
    const job = await api.createJob({
      model: 'logistic',
      features: featuresOf(`${DATA_DIR}/breast_cancer.csv`, 'diagnosis'),
      target: 'diagnosis',
      rounds: 2,
      minParticipants: 2,
      roundDeadlineSeconds: DEADLINE_SECONDS,
    });
    let finished = false;
    const done = coordinator.engine.whenFinished(job.id).then(() => (finished = true));
    // Once both honest agents have answered a phase, only the silent one is awaited: its deadline comes.
    for (let phase = 1; !finished; phase++) {
      await eventually(
        async () => finished || answers.filter((j) => j === job.id).length >= 2 * phase,
        (ready) => ready,
        120_000,
      );
      if (!finished) clock.advance(DEADLINE_SECONDS * 1000);
    }
    await done;
    expect((await api.job(job.id)).status).toBe('completed');
    const rounds = await api.rounds(job.id);
    expect(rounds).toHaveLength(2);
    for (const round of rounds) {
      expect(round.selected).toContain('silent');
      expect(round.failures).toEqual([{ participant: 'silent', reason: 'deadline passed' }]);
      expect(round.contributors.map((c) => c.participant).sort()).toEqual(['site-a', 'site-b']);
      expect(round.closedAt - round.startedAt).toBe(DEADLINE_SECONDS * 1000);
    }
  });
});
