/**
 * A participant's status changed (approved, rejected, revoked): every replica
 * must hear it, wherever the decision was taken. Each one forgets the record it
 * may have cached, and the one the participant is connected to closes the
 * connection of a revoked participant, telling it why.
 */
import type { ErrorBody, ParticipantStatus } from '@fl/shared';
import type { Store } from '../storage/store';
import type { ClusterEvent, SharedState } from './shared-state';

export class ParticipantStatusRelay {
  private readonly unsubscribe: () => void;

  constructor(
    private readonly state: SharedState,
    connections: { close(participant: string, error: ErrorBody): unknown },
    store: Pick<Store, 'forgetParticipant'>,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.unsubscribe = state.subscribe((event: ClusterEvent) => {
      if (event.type !== 'participant') return;
      store.forgetParticipant(event.name);
      if (event.close) connections.close(event.name, event.close);
    });
  }

  /**
   * Tells every replica, this one at once; called once the change is committed.
   * Never throws: when Redis fails the others learn late (a revoked participant's
   * next handshake is refused from the store anyway), and the error is logged.
   */
  changed(name: string, status: ParticipantStatus, close?: ErrorBody): void {
    this.state.publish({ type: 'participant', name, status, ...(close && { close }) }).catch(this.onError);
  }

  onModuleDestroy(): void {
    this.unsubscribe();
  }
}
