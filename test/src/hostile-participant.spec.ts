/**
 * What one enrolled participant can cost the coordinator by sending more than
 * a round needs, over real sockets: the nonces a job keeps against replays are
 * bounded per participant and round, so a site signing message after message
 * (refused or not) cannot grow the coordinator's memory for as long as a job
 * waits; the others' messages are taken as before.
 */
import type { Socket } from 'socket.io-client';
import type { RunningCoordinator } from '@fl/coordinator';
import { randomNonce, signHeader, type Ack, type FailureHeader, type KeyPair } from '@fl/shared';
import { connectRaw, emitWithAck, handshakeAuth } from './raw-client';
import { AdminApi, DATA_DIR, featuresOf, registerParticipant, testCoordinator } from './harness';

jest.setTimeout(120_000);

/** A signed failure report for round 1's train request, which a waiting job refuses (WRONG_ROUND) after claiming its nonce. */
function report(job: string, participant: string, keys: KeyPair) {
  const header: FailureHeader = { type: 'failure', job, round: 1, phase: 'train', participant, nonce: randomNonce(), code: 'TRAINING_FAILED', counts: {} };
  return { header, signature: signHeader('failure', header, keys.secretKey) };
}

describe('a participant that keeps signing messages while a job waits', () => {
  let coordinator: RunningCoordinator;
  let mallory: Socket;
  let bank: Socket;
  const codes: Record<string, number> = {};
  let last: Ack;
  let other: Ack;

  beforeAll(async () => {
    // Refusals do not close these connections, so that only the bound on a round's messages is left to hold.
    coordinator = await testCoordinator({ maxRefusalsPerConnection: 1_000_000 });
    const api = AdminApi.of(coordinator);
    const malloryKeys = await registerParticipant(api, 'mallory');
    const bankKeys = await registerParticipant(api, 'bank-a');
    ({ socket: mallory } = await connectRaw(coordinator.url, handshakeAuth(malloryKeys)));
    ({ socket: bank } = await connectRaw(coordinator.url, handshakeAuth(bankKeys)));
    // Three participants needed, two online: the job waits, and no round's commit clears what it keeps.
    const file = `${DATA_DIR}/breast_cancer.csv`;
    const job = await api.createJob({ model: 'logistic', features: featuresOf(file, 'diagnosis'), target: 'diagnosis', minParticipants: 3 });
    for (let sent = 0; sent < 1000; sent += 100) {
      const acks = await Promise.all(Array.from({ length: 100 }, () => emitWithAck(mallory, 'failure', report(job.id, 'mallory', malloryKeys))));
      for (const ack of acks) codes[ack.ok ? 'ok' : ack.error.code] = (codes[ack.ok ? 'ok' : ack.error.code] ?? 0) + 1;
    }
    last = await emitWithAck(mallory, 'failure', report(job.id, 'mallory', malloryKeys));
    other = await emitWithAck(bank, 'failure', report(job.id, 'bank-a', bankKeys));
  });

  afterAll(async () => {
    mallory?.close();
    bank?.close();
    await coordinator?.close();
  });

  it('refuses each message for what it is, up to 1,000 in a round', () => {
    expect(codes).toEqual({ WRONG_ROUND: 1000 });
  });

  it('refuses the next ones, keeping nothing of them, until a round commits', () => {
    expect(last).toEqual({ ok: false, error: { code: 'RATE_LIMITED', message: expect.stringMatching(/1000 signed messages from mallory since the last round committed/) } });
  });

  it('takes the other participants\' messages as before', () => {
    expect(other).toEqual({ ok: false, error: expect.objectContaining({ code: 'WRONG_ROUND' }) });
  });
});
