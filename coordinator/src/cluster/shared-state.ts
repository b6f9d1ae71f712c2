/**
 * What must hold across coordinator replicas, behind one interface: handshake
 * nonces seen once, failure limits, and events every replica must act on (a
 * participant's status changed: its cached record is stale, and a revocation
 * cuts its connection wherever it is connected; a token stopped working: the
 * live feeds it opened close wherever they are). In one process (the default,
 * no service needed) this is memory; with `--redis-url` it is Redis
 * (redis-shared-state.ts).
 */
import type { ErrorBody, ParticipantStatus } from '@fl/shared';
import { FailureLimiter, type FailureLimits } from '../failure-limiter';

/** What an admin may do to a running job. */
export type JobControl = 'pause' | 'resume' | 'stop';

/** An event every replica receives, the one that published it included. */
export type ClusterEvent =
  | {
      type: 'participant';
      name: string;
      status: ParticipantStatus;
      /** set when the participant's live connection must be closed, with this reason (a revocation) */
      close?: ErrorBody;
    }
  /** an admin's pause, resume or stop of a job, asked of a replica that does not run it: for the one that does */
  | { type: 'job-control'; job: string; action: JobControl; actor: string }
  /** a session or API token may have stopped working (sign-out, revocation, a user removed): live feeds check theirs again */
  | { type: 'tokens-revoked' };


export type ClusterListener = (event: ClusterEvent) => void;

export interface SharedState {
  /** where the state lives, for the log and the health of a replica */
  readonly kind: 'in-process' | 'redis';
  /** True the first time a key is claimed; false while an earlier claim of it lives (until `expiresAt`). */
  claimOnce(key: string, expiresAt: number, now: number): Promise<boolean>;
  /** The failure limits called `name` (handshakes, enrollments, sign-ins), shared by every replica. */
  limiter(name: string, maxFailures: number, windowMs: number): FailureLimits;
  /** Sends an event to every replica; this one's listeners run before it returns, the others' when it arrives. */
  publish(event: ClusterEvent): Promise<void>;
  /** Listens to every replica's events; returns how to stop. */
  subscribe(listener: ClusterListener): () => void;
  close(): Promise<void>;
}

export const SHARED_STATE = Symbol('SharedState');

/** Listeners of one replica; a listener that throws does not keep the event from the others. */
export class ClusterListeners {
  private readonly listeners = new Set<ClusterListener>();

  constructor(private readonly onError: (err: unknown) => void) {}

  add(listener: ClusterListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  deliver(event: ClusterEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}

/** The state of one process: right for a single coordinator, which is the default. */
export class InProcessSharedState implements SharedState {
  readonly kind = 'in-process';
  /** key -> expiry */
  private readonly claims = new Map<string, number>();
  private readonly listeners: ClusterListeners;

  constructor(onError: (err: unknown) => void = () => undefined) {
    this.listeners = new ClusterListeners(onError);
  }

  /** Claims alive now, for tests that check expired ones are forgotten. */
  get claimCount(): number {
    return this.claims.size;
  }

  async claimOnce(key: string, expiresAt: number, now: number): Promise<boolean> {
    for (const [claimed, expiry] of this.claims) if (expiry < now) this.claims.delete(claimed);
    if (this.claims.has(key)) return false;
    this.claims.set(key, expiresAt);
    return true;
  }

  limiter(_name: string, maxFailures: number, windowMs: number): FailureLimits {
    return new FailureLimiter(maxFailures, windowMs);
  }

  async publish(event: ClusterEvent): Promise<void> {
    this.listeners.deliver(event);
  }

  subscribe(listener: ClusterListener): () => void {
    return this.listeners.add(listener);
  }

  async close(): Promise<void> {}
}
