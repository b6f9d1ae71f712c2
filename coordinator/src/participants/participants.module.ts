/**
 * Who takes part: invitations, enrollment, the admin's decisions, the agents'
 * live connections and their handshake. The agents' namespace itself is wired
 * in the jobs module, beside the round engine it hands messages to.
 */
import { Module } from '@nestjs/common';
import { AuditLog } from '../audit/audit-log';
import { AuditModule } from '../audit/audit.module';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../config/config';
import { FailureLimiter } from '../failure-limiter';
import { CoordinatorIdentity } from '../identity/identity';
import { STORE, type Store } from '../storage/store';
import { AgentConnections } from './connections';
import { HandshakeVerifier } from './handshake';
import { EnrollmentsController, InvitationsController, ParticipantsController } from './participants.controller';
import { ParticipantsService } from './participants.service';
import { ParticipantRegistry } from './registry';
import { CLOCK, type Clock } from '../core/clock';

@Module({
  imports: [AuditModule],
  controllers: [ParticipantsController, InvitationsController, EnrollmentsController],
  providers: [
    { provide: AgentConnections, useFactory: (config: CoordinatorConfig) => new AgentConnections(config.maxFrameBytes), inject: [COORDINATOR_CONFIG] },
    {
      provide: ParticipantRegistry,
      useFactory: (store: Store, audit: AuditLog, identity: CoordinatorIdentity, connections: AgentConnections, config: CoordinatorConfig, clock: Clock) =>
        new ParticipantRegistry({
          store,
          audit,
          identity,
          connections,
          windowMs: config.handshakeWindowSeconds * 1000,
          failures: new FailureLimiter(config.handshakeFailuresPerMinute, 60_000),
          clock,
        }),
      inject: [STORE, AuditLog, CoordinatorIdentity, AgentConnections, COORDINATOR_CONFIG, CLOCK],
    },
    {
      provide: HandshakeVerifier,
      useFactory: (store: Store, config: CoordinatorConfig) =>
        new HandshakeVerifier(store, config.handshakeWindowSeconds * 1000, new FailureLimiter(config.handshakeFailuresPerMinute, 60_000)),
      inject: [STORE, COORDINATOR_CONFIG],
    },
    ParticipantsService,
  ],
  exports: [AgentConnections, HandshakeVerifier],
})
export class ParticipantsModule {}
