/**
 * Limits that protect the coordinator, each answered in plain words rather than
 * by a silent disconnect: the frame size, and connections that keep sending
 * what they have no right to send.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunningCoordinator } from '@fl/coordinator';
import type { ErrorBody } from '@fl/shared';
import type { ParticipantAgent } from '@fl/participant-agent';
import { connectRaw, emitWithAck, handshakeAuth } from './raw-client';
import { AdminApi, eventually, registerParticipant, startAgent, tempDir, testCoordinator } from './harness';

jest.setTimeout(120_000);

describe('a message over the frame limit', () => {
  let coordinator: RunningCoordinator;
  let agent: ParticipantAgent;
  const refusals: ErrorBody[] = [];
  let disconnects = 0;

  beforeAll(async () => {
    coordinator = await testCoordinator({ maxFrameBytes: 64 * 1024 });
    // 20,000 distinct categories: the statistics alone weigh several times the 64 KiB limit
    const dir = tempDir('frames');
    const file = path.join(dir, 'wide.csv');
    const rows = Array.from({ length: 20_000 }, (_, i) => `customer-${i},${i % 2 ? 'yes' : 'no'}`);
    fs.writeFileSync(file, ['id,label', ...rows].join('\n') + '\n');
    agent = await startAgent(coordinator, 'wide', file);
    agent.on('refused', (error: ErrorBody) => refusals.push(error));
    agent.socket.on('disconnect', () => disconnects++);
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

  it('is not sent: the agent says why, with the limit, in plain words', () => {
    expect(refusals[0].code).toBe('FRAME_TOO_LARGE');
    expect(refusals[0].message).toMatch(/this statistics is \d+\.\d MB, over the coordinator's frame limit of 0\.1 MB; not sent/);
  });

  it('leaves the connection up: no disconnect and reconnect loop', async () => {
    await new Promise((r) => setTimeout(r, 500));
    expect(agent.socket.connected).toBe(true);
    expect(disconnects).toBe(0);
  });
});

describe('a connection that keeps sending refused messages', () => {
  let coordinator: RunningCoordinator;

  beforeAll(async () => {
    coordinator = await testCoordinator({ maxRefusalsPerConnection: 5 });
  });
  afterAll(() => coordinator?.close());

  it('is closed after the configured number of refusals, with a last message saying why', async () => {
    const keys = await registerParticipant(AdminApi.of(coordinator), 'noisy');
    const { socket } = await connectRaw(coordinator.url, handshakeAuth(keys));
    const closing = new Promise<ErrorBody>((resolve) => socket.once('closing', resolve));
    const disconnected = new Promise<string>((resolve) => socket.once('disconnect', resolve));
    socket.emit('no-such-event', { x: 1 });
    socket.emit('train', {});
    for (let i = 0; i < 2; i++) expect((await emitWithAck(socket, 'update', { garbage: i })).ok).toBe(false);
    socket.emit('update', 'last straw');
    expect(await closing).toEqual({ code: 'TOO_MANY_ERRORS', message: '5 refused messages on this connection' });
    expect(await disconnected).toBe('io server disconnect');
  });
});
