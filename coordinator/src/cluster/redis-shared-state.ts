/**
 * The shared state of coordinator replicas in Redis: a nonce is claimed with
 * SET NX PX, so that it passes once on whichever replica sees it first; a
 * failure window is a counter with an expiry, changed by small Lua scripts so
 * that reading and counting are one step; events go out on a pub/sub channel.
 * Every key and the channel start with a prefix, so that several consortia (or
 * test runs) can share one Redis.
 */
import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import type { FailureLimits } from '../failure-limiter';
import { ClusterListeners, type ClusterEvent, type ClusterListener, type SharedState } from './shared-state';

/** Counts an attempt unless the key is at its limit: 1 counted, 0 blocked. The window starts with its first failure. */
const ATTEMPT = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2], 'NX')
return 1`;

const FAIL = `
redis.call('INCRBY', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1], 'NX')
return 1`;

const FORGIVE = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return 1`;

interface Scripted {
  flAttempt(key: string, max: number, windowMs: number): Promise<number>;
  flFail(key: string, windowMs: number, weight: number): Promise<number>;
  flForgive(key: string): Promise<number>;
}

/** Failure windows of one kind (handshakes, enrollments, sign-ins) in Redis; the clock is Redis's own. */
class RedisFailureLimiter implements FailureLimits {
  constructor(
    private readonly redis: Redis & Scripted,
    private readonly prefix: string,
    readonly maxFailures: number,
    readonly windowMs: number,
  ) {}

  async blocked(key: string): Promise<boolean> {
    return Number((await this.redis.get(this.prefix + key)) ?? 0) >= this.maxFailures;
  }

  async attempt(key: string): Promise<boolean> {
    return (await this.redis.flAttempt(this.prefix + key, this.maxFailures, this.windowMs)) === 1;
  }

  async forgive(key: string): Promise<void> {
    await this.redis.flForgive(this.prefix + key);
  }

  async fail(key: string, _now?: number, weight = 1): Promise<void> {
    await this.redis.flFail(this.prefix + key, this.windowMs, weight);
  }
}

export interface RedisStateOptions {
  /** every key and channel starts with it */
  prefix: string;
  /** a listener's error, or Redis's own once connected (it reconnects by itself) */
  onError: (err: unknown) => void;
}

export class RedisSharedState implements SharedState {
  readonly kind = 'redis';
  /** tells this replica's own events, which its listeners already had, from the others' */
  private readonly origin = randomUUID();
  private readonly listeners: ClusterListeners;
  private readonly channel: string;
  private closed = false;

  private constructor(
    /** commands; also the publisher */
    readonly client: Redis & Scripted,
    /** a connection in subscriber mode can send nothing else */
    private readonly subscriber: Redis,
    private readonly options: RedisStateOptions,
  ) {
    this.listeners = new ClusterListeners(options.onError);
    this.channel = `${options.prefix}events`;
  }

  /** Connects and subscribes; rejects, naming the URL's host, when Redis does not answer. */
  static async connect(url: string, options: RedisStateOptions): Promise<RedisSharedState> {
    // A command waits through two reconnection attempts, then fails: a handshake refused beats one left hanging.
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 }) as Redis & Scripted;
    const subscriber = client.duplicate();
    const state = new RedisSharedState(client, subscriber, options);
    try {
      await Promise.all([client.connect(), subscriber.connect()]);
    } catch (err) {
      client.disconnect();
      subscriber.disconnect();
      throw new Error(`cannot reach Redis at ${new URL(url).host}: ${(err as Error).message}`);
    }
    client.defineCommand('flAttempt', { numberOfKeys: 1, lua: ATTEMPT });
    client.defineCommand('flFail', { numberOfKeys: 1, lua: FAIL });
    client.defineCommand('flForgive', { numberOfKeys: 1, lua: FORGIVE });
    for (const connection of [client, subscriber]) connection.on('error', options.onError);
    subscriber.on('message', (channel: string, text: string) => state.received(channel, text));
    await subscriber.subscribe(state.channel);
    return state;
  }

  private received(channel: string, text: string): void {
    if (channel !== this.channel) return;
    let message: { origin?: unknown; event?: ClusterEvent };
    try {
      message = JSON.parse(text) as typeof message;
    } catch (err) {
      this.options.onError(err);
      return;
    }
    if (message.origin !== this.origin && message.event) this.listeners.deliver(message.event);
  }

  async claimOnce(key: string, expiresAt: number, now: number): Promise<boolean> {
    const answer = await this.client.set(`${this.options.prefix}once:${key}`, '1', 'PX', Math.max(1, Math.ceil(expiresAt - now)), 'NX');
    return answer === 'OK';
  }

  limiter(name: string, maxFailures: number, windowMs: number): FailureLimits {
    return new RedisFailureLimiter(this.client, `${this.options.prefix}limit:${name}:`, maxFailures, windowMs);
  }

  async publish(event: ClusterEvent): Promise<void> {
    this.listeners.deliver(event);
    await this.client.publish(this.channel, JSON.stringify({ origin: this.origin, event }));
  }

  subscribe(listener: ClusterListener): () => void {
    return this.listeners.add(listener);
  }

  /**
   * The client for a library that publishes without handling a failure (the
   * Socket.IO adapter, e.g. an ack owed to another replica as this one closes):
   * a failed publish goes to onError, or nowhere once closed, rather than
   * becoming an unhandled rejection, which ends the process with 1.
   */
  publisher(): Redis {
    const publish = (channel: string, message: string) =>
      this.client.publish(channel, message).catch((err: unknown) => {
        if (!this.closed) this.options.onError(err);
        return 0;
      });
    return new Proxy(this.client, {
      get: (target, key) => {
        if (key === 'publish') return publish;
        const value: unknown = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([this.subscriber.quit(), this.client.quit()]);
  }
}
