/**
 * The shared state of replicas on the real Redis at 127.0.0.1:6379: two
 * instances stand for two coordinator processes, each with its own connections,
 * under a prefix of this run's own, removed at the end.
 */
import { randomUUID } from 'node:crypto';
import { RedisSharedState } from './redis-shared-state';
import type { ClusterEvent } from './shared-state';

const REDIS_URL = 'redis://127.0.0.1:6379';

describe('the shared state of replicas in Redis', () => {
  const prefix = `fl-test:${randomUUID()}:`;
  const errors: unknown[] = [];
  let a: RedisSharedState;
  let b: RedisSharedState;

  beforeAll(async () => {
    [a, b] = await Promise.all([0, 1].map(() => RedisSharedState.connect(REDIS_URL, { prefix, onError: (err) => errors.push(err) })));
  });

  afterAll(async () => {
    const keys = await a.client.keys(`${prefix}*`);
    if (keys.length) await a.client.del(...keys);
    await Promise.all([a.close(), b.close()]);
  });

  it('lets a nonce through once, on whichever replica claims it first, until it expires', async () => {
    const now = Date.now();
    expect(await a.claimOnce('handshake:key:n1', now + 60_000, now)).toBe(true);
    expect(await b.claimOnce('handshake:key:n1', now + 60_000, now)).toBe(false);
    expect(await a.claimOnce('handshake:key:n1', now + 60_000, now)).toBe(false);
    expect(await b.claimOnce('handshake:key:n2', now + 60_000, now)).toBe(true);
    // Redis forgets it by itself when its window is over.
    const ttl = await a.client.pttl(`${prefix}once:handshake:key:n1`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('counts failures of one key on both replicas against one limit, and forgives on either', async () => {
    const onA = a.limiter('handshake', 3, 60_000);
    const onB = b.limiter('handshake', 3, 60_000);
    const now = Date.now();
    await onA.fail('address:10.0.0.1', now);
    expect(await onB.attempt('address:10.0.0.1', now)).toBe(true);
    expect(await onA.blocked('address:10.0.0.1', now)).toBe(false);
    await onB.fail('address:10.0.0.1', now);
    expect(await onA.blocked('address:10.0.0.1', now)).toBe(true);
    expect(await onB.attempt('address:10.0.0.1', now)).toBe(false);
    // another address, and the same address under another limit's name, are apart
    expect(await onB.blocked('address:10.0.0.2', now)).toBe(false);
    expect(await a.limiter('sign-in', 3, 60_000).blocked('address:10.0.0.1', now)).toBe(false);
    await onB.forgive('address:10.0.0.1', now);
    expect(await onA.attempt('address:10.0.0.1', now)).toBe(true);
    const ttl = await a.client.pttl(`${prefix}limit:handshake:address:10.0.0.1`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('counts a failure weighed more than one as that many, on either replica', async () => {
    const onA = a.limiter('refusals', 10, 60_000);
    const onB = b.limiter('refusals', 10, 60_000);
    const now = Date.now();
    await onA.fail('key:k', now, 6);
    expect(await onB.blocked('key:k', now)).toBe(false);
    await onB.fail('key:k', now, 4);
    expect(await onA.blocked('key:k', now)).toBe(true);
  });

  it('counts attempts made together on two replicas no further than the limit', async () => {
    const limits = [a, b].map((state) => state.limiter('sign-in', 5, 60_000));
    const now = Date.now();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => limits[i % 2].attempt('address:10.9.9.9', now)));
    expect(answers.filter(Boolean)).toHaveLength(5);
  });

  it("delivers an event to every replica's listeners once, the publisher's own at once", async () => {
    const seenByA: ClusterEvent[] = [];
    const seenByB: ClusterEvent[] = [];
    const offA = a.subscribe((event) => seenByA.push(event));
    const arrived = new Promise<void>((resolve) => {
      const offB = b.subscribe((event) => {
        seenByB.push(event);
        offB();
        resolve();
      });
    });
    const event: ClusterEvent = { type: 'participant', name: 'bank-a', status: 'revoked', close: { code: 'REVOKED', message: 'an admin revoked bank-a' } };
    const published = a.publish(event);
    expect(seenByA).toEqual([event]);
    await published;
    await arrived;
    expect(seenByB).toEqual([event]);
    // a round trip on A's subscription after the event: had A received its own event back, it would be in by now
    const marker: ClusterEvent = { type: 'participant', name: 'marker', status: 'approved' };
    const markerBack = new Promise<void>((resolve) => {
      const off = a.subscribe((e) => e.type === 'participant' && e.name === 'marker' && (off(), resolve()));
    });
    await b.publish(marker);
    await markerBack;
    expect(seenByA).toEqual([event, marker]);
    offA();
    expect(errors).toEqual([]);
  });

  it('refuses to start when Redis does not answer, naming where it looked', async () => {
    await expect(RedisSharedState.connect('redis://127.0.0.1:1', { prefix, onError: () => undefined })).rejects.toThrow(/cannot reach Redis at 127\.0\.0\.1:1/);
  });
});
