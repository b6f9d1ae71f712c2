/**
 * Jobs and their rounds: the round engine, the REST API that creates and steers
 * jobs, and the agents' Socket.IO namespace, which hands what agents send to the
 * engine (it lives with the engine so that modules import one way:
 * jobs -> participants).
 */
import { Module } from '@nestjs/common';
import { AuditLog } from '../audit/audit-log';
import { AuditModule } from '../audit/audit.module';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../config/config';
import { CLOCK, type Clock } from '../core/clock';
import { LEADER_ELECTION, type LeaderElection } from '../cluster/leader-election';
import { CoordinatorIdentity } from '../identity/identity';
import { CoordinatorLogger } from '../logger';
import { AgentGateway } from '../participants/agent.gateway';
import { AgentConnections } from '../participants/connections';
import { ParticipantsModule } from '../participants/participants.module';
import { RoundEngine } from '../rounds/round-engine';
import { STORE, type Store } from '../storage/store';
import { JobsController } from './jobs.controller';
import { JobsService } from './jobs.service';

@Module({
  imports: [AuditModule, ParticipantsModule],
  controllers: [JobsController],
  providers: [
    {
      provide: RoundEngine,
      useFactory: (
        store: Store,
        channel: AgentConnections,
        identity: CoordinatorIdentity,
        audit: AuditLog,
        log: CoordinatorLogger,
        config: CoordinatorConfig,
        clock: Clock,
        election: LeaderElection,
      ) =>
        new RoundEngine({
          store,
          channel,
          identity,
          audit,
          retention: { rounds: config.retainUpdateRounds, maxModelBytes: config.retainMaxModelBytes },
          maxRoundAttempts: config.maxRoundAttempts,
          jobDefaults: {
            minParticipants: config.defaultMinParticipants,
            roundDeadlineSeconds: config.defaultRoundDeadlineSeconds,
          },
          log: (level, message, fields) => log.log(level, message, fields),
          leadership: election,
          clock,
        }),
      inject: [STORE, AgentConnections, CoordinatorIdentity, AuditLog, CoordinatorLogger, COORDINATOR_CONFIG, CLOCK, LEADER_ELECTION],
    },
    JobsService,
    AgentGateway,
  ],
  exports: [RoundEngine],
})
export class JobsModule {}
