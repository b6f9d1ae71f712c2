/**
 * Who takes part: invitations, enrollment, the admin's decisions, the agents'
 * live connections and their handshake. The agents' namespace itself is wired
 * in the jobs module, beside the round engine it hands messages to.
 */
import { Module } from '@nestjs/common';
import { AuditLog } from '../audit/audit-log';
import { AuditModule } from '../audit/audit.module';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../config/config';
import { AgentRelay } from '../cluster/agent-relay';
import { ParticipantStatusRelay } from '../cluster/participant-status';
import { SHARED_STATE, type SharedState } from '../cluster/shared-state';
import { CoordinatorIdentity } from '../identity/identity';
import { STORE, type Store } from '../storage/store';
import { AgentConnections } from './connections';
import { HandshakeVerifier, MAX_CONNECTIONS_PER_MINUTE, REFUSAL_WINDOW_MS } from './handshake';
import { EnrollmentsController, InvitationsController, ParticipantsController } from './participants.controller';
import { ParticipantsService } from './participants.service';
import { ParticipantRegistry } from './registry';
import { CLOCK, type Clock } from '../core/clock';
import { CoordinatorLogger } from '../logger';

@Module({
  imports: [AuditModule],
  controllers: [ParticipantsController, InvitationsController, EnrollmentsController],
  providers: [
    { provide: AgentConnections, useFactory: (config: CoordinatorConfig) => new AgentConnections(config.maxFrameBytes), inject: [COORDINATOR_CONFIG] },
    {
      provide: AgentRelay,
      useFactory: (connections: AgentConnections, state: SharedState, log: CoordinatorLogger) =>
        new AgentRelay(connections, state.kind === 'redis', { onError: (err) => log.warn(`agents on other replicas: ${(err as Error).message}`) }),
      inject: [AgentConnections, SHARED_STATE, CoordinatorLogger],
    },
    {
      provide: ParticipantStatusRelay,
      useFactory: (state: SharedState, connections: AgentConnections, store: Store, log: CoordinatorLogger) =>
        new ParticipantStatusRelay(state, connections, store, (err) => log.error(`participant status to other replicas: ${(err as Error).message}`)),
      inject: [SHARED_STATE, AgentConnections, STORE, CoordinatorLogger],
    },
    {
      provide: ParticipantRegistry,
      useFactory: (
        store: Store,
        audit: AuditLog,
        identity: CoordinatorIdentity,
        statuses: ParticipantStatusRelay,
        config: CoordinatorConfig,
        clock: Clock,
        state: SharedState,
      ) =>
        new ParticipantRegistry({
          store,
          audit,
          identity,
          statuses,
          windowMs: config.handshakeWindowSeconds * 1000,
          failures: state.limiter('enrollment', config.handshakeFailuresPerMinute, 60_000),
          clock,
        }),
      inject: [STORE, AuditLog, CoordinatorIdentity, ParticipantStatusRelay, COORDINATOR_CONFIG, CLOCK, SHARED_STATE],
    },
    {
      provide: HandshakeVerifier,
      useFactory: (store: Store, config: CoordinatorConfig, state: SharedState) =>
        new HandshakeVerifier(
          store,
          config.handshakeWindowSeconds * 1000,
          state.limiter('handshake', config.handshakeFailuresPerMinute, 60_000),
          Date.now(),
          state,
          state.limiter('refusals', config.maxRefusalsPerConnection, REFUSAL_WINDOW_MS),
          state.limiter('connections', MAX_CONNECTIONS_PER_MINUTE, 60_000),
        ),
      inject: [STORE, COORDINATOR_CONFIG, SHARED_STATE],
    },
    ParticipantsService,
  ],
  exports: [AgentConnections, AgentRelay, HandshakeVerifier],
})
export class ParticipantsModule {}
