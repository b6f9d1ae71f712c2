/**
 * Limits that protect the coordinator, each answered in plain words rather than
 * by a silent disconnect: the frame size (both ways), and connections that keep
 * sending what they have no right to send.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunningCoordinator } from '@fl/coordinator';
import type { ErrorBody } from '@fl/shared';
import type { ParticipantAgent } from '@fl/participant-agent';
import { connectRaw, emitWithAck, handshakeAuth } from './raw-client';
import { AdminApi, eventually, registerParticipant, startAgent, tempDir, testCoordinator } from './harness';

jest.setTimeout(120_000);

describe('messages over the frame limit', () => {
  let coordinator: RunningCoordinator;
  const agents: ParticipantAgent[] = [];
  const refusals: ErrorBody[] = [];
  let disconnects = 0;
  const pieces: number[] = [];
  /** the requests each agent received in pieces, in the order received */
  const received: string[] = [];
  let jobId: string;

  beforeAll(async () => {
    coordinator = await testCoordinator({ maxFrameBytes: 64 * 1024 });
    // 17,000 columns: the statistics (~1.5 MB) and each update (68 kB) are over the 64 kB frame limit.
    const dir = tempDir('frames');
    const width = 17_000;
    const header = [...Array.from({ length: width }, (_, j) => `x${j}`), 'label'].join(',');
    for (const name of ['wide-a', 'wide-b']) {
      const rows = Array.from({ length: 40 }, (_, i) => [...Array.from({ length: width }, (_, j) => (i * 7 + j) % 10), i % 2 ? 'yes' : 'no'].join(','));
      fs.writeFileSync(path.join(dir, `${name}.csv`), [header, ...rows].join('\n') + '\n');
      const agent = await startAgent(coordinator, name, path.join(dir, `${name}.csv`));
      agent.on('refused', (error: ErrorBody) => refusals.push(error));
      agent.socket.on('disconnect', () => disconnects++);
      agent.socket.onAnyOutgoing((event) => event === 'chunk' && pieces.push(1));
      agent.socket.onAny((event: string, end: { event?: string }) => event === 'chunked' && received.push(`${name} ${end.event}`));
      agents.push(agent);
    }
    const job = await AdminApi.of(coordinator).createJob({
      model: 'logistic',
      features: Array.from({ length: width }, (_, j) => ({ name: `x${j}`, type: 'numeric' as const })),
      target: 'label',
      rounds: 2,
      minParticipants: 2,
      evaluateEvery: 0,
    });
    jobId = job.id;
    await coordinator.engine.whenFinished(jobId);
  });

  afterAll(async () => {
    agents.forEach((a) => a.stop());
    await coordinator?.close();
  });

  it('travel in pieces: the statistics and the updates arrive, and the job completes', async () => {
    expect(await AdminApi.of(coordinator).job(jobId)).toMatchObject({ status: 'completed', round: 2 });
    const rounds = await AdminApi.of(coordinator).rounds(jobId);
    for (const round of rounds) expect(round.contributors.map((c) => c.participant).sort()).toEqual(['wide-a', 'wide-b']);
    expect((await coordinator.store.getModel(jobId))!.weights.length).toBe(17_001);
    // statistics in ~25 pieces and each update in 2, for each agent
    expect(pieces.length).toBeGreaterThan(2 * (20 + 2 * 2));
  });

  it('travel in pieces the other way too: the job setup (its 17,000 columns), then each train request (17,001 weights), in that order', () => {
    for (const name of ['wide-a', 'wide-b']) {
      expect(received.filter((r) => r.startsWith(name))).toEqual([`${name} setup`, `${name} train`, `${name} train`]);
    }
  });

  it('without a refusal, a disconnect or a reconnect loop', () => {
    expect(refusals).toEqual([]);
    expect(disconnects).toBe(0);
  });
});

describe('a message over the largest message accepted', () => {
  let coordinator: RunningCoordinator;
  let agent: ParticipantAgent;
  const refusals: ErrorBody[] = [];

  beforeAll(async () => {
    coordinator = await testCoordinator({ maxFrameBytes: 64 * 1024, maxMessageBytes: 64 * 1024 });
    const dir = tempDir('frames');
    const file = path.join(dir, 'wide.csv');
    const rows = Array.from({ length: 4000 }, (_, i) => `customer-with-a-long-identifier-${i},${i % 2 ? 'yes' : 'no'}`);
    fs.writeFileSync(file, ['id,label', ...rows].join('\n') + '\n');
    agent = await startAgent(coordinator, 'wide', file);
    agent.on('refused', (error: ErrorBody) => refusals.push(error));
    await AdminApi.of(coordinator).createJob({
      model: 'logistic',
      features: [{ name: 'id', type: 'categorical' }],
      target: 'label',
      minParticipants: 1,
      roundDeadlineSeconds: 2,
    });
    await eventually(() => refusals.length, (n) => n > 0);
  });

  afterAll(async () => {
    agent?.stop();
    await coordinator?.close();
  });

  it('is not sent: the agent says why, with the limit, in plain words, and stays connected', () => {
    expect(refusals[0].code).toBe('FRAME_TOO_LARGE');
    expect(refusals[0].message).toMatch(/this statistics is \d+\.\d MB, over the coordinator's message limit of 0\.1 MB; not sent/);
    expect(agent.socket.connected).toBe(true);
  });
});

describe('a connection that keeps sending refused messages', () => {
  let coordinator: RunningCoordinator;

  beforeAll(async () => {
    coordinator = await testCoordinator({ maxRefusalsPerConnection: 5 });
  });
  afterAll(() => coordinator?.close());

  it('is closed after the configured number of refusals in a minute, with a last message saying why, and kept out', async () => {
    const keys = await registerParticipant(AdminApi.of(coordinator), 'noisy');
    const { socket } = await connectRaw(coordinator.url, handshakeAuth(keys));
    const closing = new Promise<ErrorBody>((resolve) => socket.once('closing', resolve));
    const disconnected = new Promise<string>((resolve) => socket.once('disconnect', resolve));
    socket.emit('no-such-event', { x: 1 });
    socket.emit('train', {});
    for (let i = 0; i < 2; i++) expect((await emitWithAck(socket, 'update', { garbage: i })).ok).toBe(false);
    socket.emit('update', 'last straw');
    expect(await closing).toEqual({ code: 'TOO_MANY_ERRORS', message: '5 refused messages (one more per MiB of JSON) within 60 s from this participant' });
    expect(await disconnected).toBe('io server disconnect');
    // Connecting again does not start the count afresh: its key is kept out for the rest of the minute; other participants are not.
    const again = await connectRaw(coordinator.url, handshakeAuth(keys));
    expect(again.refused).toEqual({ code: 'RATE_LIMITED', message: expect.stringMatching(/closed for too many refused messages; wait up to 60 s/) });
    const other = await connectRaw(coordinator.url, handshakeAuth(await registerParticipant(AdminApi.of(coordinator), 'quiet')));
    expect(other.refused).toBeUndefined();
    other.socket.close();
  });

  it('counts a refused message once more per MiB of JSON it had read: one of 4 MiB of junk uses up a limit of 5', async () => {
    const keys = await registerParticipant(AdminApi.of(coordinator), 'bulky');
    const { socket } = await connectRaw(coordinator.url, handshakeAuth(keys));
    const closing = new Promise<ErrorBody>((resolve) => socket.once('closing', resolve));
    const ack = await emitWithAck(socket, 'statistics', { junk: 'x'.repeat(4 * 1024 * 1024) });
    expect(ack).toMatchObject({ ok: false, error: { code: 'INVALID_FRAME' } });
    expect(await closing).toMatchObject({ code: 'TOO_MANY_ERRORS' });
    expect((await connectRaw(coordinator.url, handshakeAuth(keys))).refused).toMatchObject({ code: 'RATE_LIMITED' });
  });
});
