import type { Ack } from '@fl/shared';
import type { ParticipantAgent } from '@fl/participant-agent';
import type { Attempts } from './attempts';
import { UpdateOrder } from './order';

type AckCallback = (err: Error | null, ack?: Ack) => void;

/** An agent's socket as the order sees it: what leaves it is recorded, with the ack the coordinator would call. */
function fakeAgent(party: number, sent: { party: number; event: string; round: number; timeout: unknown; ack: AckCallback }[]) {
  const socket = {
    flags: {} as Record<string, unknown>,
    emit(event: string, message: { header: { round: number } }, ack: AckCallback) {
      sent.push({ party, event, round: message.header.round, timeout: socket.flags.timeout, ack });
      socket.flags = {};
      return socket;
    },
  };
  return { agent: { socket } as unknown as ParticipantAgent, socket };
}

const turns = () => new Promise((resolve) => setImmediate(resolve));
const attempt = (n: number): Attempts => ({ asked: () => n, onAttempt: () => undefined });
const OK: Ack = { ok: true };

describe('the order of plain updates', () => {
  it('sends each attempt\'s updates in party order, each once the one before it is answered, whatever order they were ready in', async () => {
    // Prepare: four parties, the third of which the job left out
    const sent: { party: number; event: string; round: number; timeout: unknown; ack: AckCallback }[] = [];
    const order = new UpdateOrder(4, async () => new Set([2]));
    const agents = [0, 1, 2, 3].map((party) => fakeAgent(party, sent));
    agents.forEach(({ agent }, party) => order.arrange(agent, party, attempt(1)));
    const answers: string[] = [];
    const update = (party: number) => {
      const { socket } = agents[party];
      socket.flags = { timeout: 1000 + party };
      socket.emit('update', { header: { round: 1 } }, (err) => answers.push(`${party} ${err ? err.message : 'ok'}`));
    };
    // Execute: p4 is ready first, then p2, then p1
    update(3);
    update(1);
    await turns();
    // Assert: nothing leaves before p1's update
    expect(sent).toEqual([]);
    update(0);
    await turns();
    expect(sent.map((s) => s.party)).toEqual([0]);
    // p1's answered: p2's goes; p2's refused (or dropped): p4's goes, p3 being out of the job
    sent[0].ack(null, OK);
    await turns();
    expect(sent.map((s) => s.party)).toEqual([0, 1]);
    sent[1].ack(new Error('the connection dropped'));
    await turns();
    expect(sent.map((s) => s.party)).toEqual([0, 1, 3]);
    // each with the ack timeout its agent set, and its answer passed on
    expect(sent.map((s) => s.timeout)).toEqual([1000, 1001, 1003]);
    sent[2].ack(null, OK);
    expect(answers).toEqual(['0 ok', '1 the connection dropped', '3 ok']);
  });

  it('goes by attempt: an update of a new attempt waits for the new attempt\'s updates before it, and other messages pass at once', async () => {
    const sent: { party: number; event: string; round: number; timeout: unknown; ack: AckCallback }[] = [];
    const order = new UpdateOrder(2, async () => new Set());
    const [first, second] = [0, 1].map((party) => fakeAgent(party, sent));
    let attempts = 1;
    const asked: Attempts = { asked: () => attempts, onAttempt: () => undefined };
    order.arrange(first.agent, 0, asked);
    order.arrange(second.agent, 1, asked);
    first.socket.emit('update', { header: { round: 1 } }, () => undefined);
    await turns();
    sent[0].ack(null, OK);
    attempts = 2;
    second.socket.emit('update', { header: { round: 1 } }, () => undefined);
    second.socket.emit('secagg', { header: { round: 1 } }, () => undefined);
    await turns();
    expect(sent.map((s) => `${s.party} ${s.event}`)).toEqual(['0 update', '1 secagg']);
    first.socket.emit('update', { header: { round: 1 } }, () => undefined);
    await turns();
    expect(sent.map((s) => `${s.party} ${s.event}`)).toEqual(['0 update', '1 secagg', '0 update']);
    sent[2].ack(null, OK);
    await turns();
    expect(sent.map((s) => `${s.party} ${s.event}`)).toEqual(['0 update', '1 secagg', '0 update', '1 update']);
  });
});
