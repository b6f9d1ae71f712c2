/**
 * A participant's status change reaching every replica: two relays over the
 * real Redis at 127.0.0.1:6379 stand for two coordinators, each with its own
 * connections and its own cache of participants' records.
 */
import { randomUUID } from 'node:crypto';
import type { ErrorBody } from '@fl/shared';
import { ParticipantStatusRelay } from './participant-status';
import { RedisSharedState } from './redis-shared-state';
import { InProcessSharedState } from './shared-state';

/** What a replica's relay acts on: the connections it closes, the cached records it forgets. */
function replica() {
  const closed: [string, ErrorBody][] = [];
  const forgotten: string[] = [];
  return {
    closed,
    forgotten,
    connections: { close: (name: string, error: ErrorBody) => closed.push([name, error]) },
    store: { forgetParticipant: (name: string) => forgotten.push(name) },
  };
}

const REVOKED: ErrorBody = { code: 'REVOKED', message: 'an admin revoked bank-a' };

describe('participant status changes', () => {
  it('in one process: forget the cached record at once, and close the connection of a revoked participant only', () => {
    const here = replica();
    const relay = new ParticipantStatusRelay(new InProcessSharedState(), here.connections, here.store);
    relay.changed('bank-b', 'approved');
    relay.changed('bank-a', 'revoked', REVOKED);
    expect(here.forgotten).toEqual(['bank-b', 'bank-a']);
    expect(here.closed).toEqual([['bank-a', REVOKED]]);
    relay.onModuleDestroy();
  });

  it('between replicas sharing Redis: the other forgets the record and closes the connection it holds', async () => {
    const prefix = `fl-test:${randomUUID()}:`;
    const errors: unknown[] = [];
    const [stateA, stateB] = await Promise.all([0, 1].map(() => RedisSharedState.connect('redis://127.0.0.1:6379', { prefix, onError: (e) => errors.push(e) })));
    try {
      const a = replica();
      const b = replica();
      const relayA = new ParticipantStatusRelay(stateA, a.connections, a.store, (e) => errors.push(e));
      const relayB = new ParticipantStatusRelay(stateB, b.connections, b.store, (e) => errors.push(e));
      const arrived = new Promise<void>((resolve) => stateB.subscribe((event) => event.type === 'participant' && event.name === 'bank-a' && resolve()));
      relayA.changed('bank-a', 'revoked', REVOKED);
      // the replica that decided acts at once, before Redis answers
      expect(a.closed).toEqual([['bank-a', REVOKED]]);
      await arrived;
      expect(b.forgotten).toEqual(['bank-a']);
      expect(b.closed).toEqual([['bank-a', REVOKED]]);
      relayA.onModuleDestroy();
      relayB.onModuleDestroy();
      expect(errors).toEqual([]);
    } finally {
      await Promise.all([stateA.close(), stateB.close()]);
    }
  });
});
