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
import { AgentRelay, type AgentEvent } from '../cluster/agent-relay';
import { SHARED_STATE, type JobControl, type SharedState } from '../cluster/shared-state';
import { CoordinatorIdentity } from '../identity/identity';
import { CoordinatorLogger } from '../logger';
import { AgentGateway } from '../participants/agent.gateway';
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
        channel: AgentRelay,
        identity: CoordinatorIdentity,
        audit: AuditLog,
        log: CoordinatorLogger,
        config: CoordinatorConfig,
        clock: Clock,
        election: LeaderElection,
        state: SharedState,
      ) => {
        const engine = new RoundEngine({
          store,
          channel,
          identity,
          audit,
          retention: { rounds: config.retainUpdateRounds, maxModelBytes: config.retainMaxModelBytes },
          maxRoundAttempts: config.maxRoundAttempts,
          reconnectWaitSeconds: config.reconnectWaitSeconds,
          jobDefaults: {
            minParticipants: config.defaultMinParticipants,
            roundDeadlineSeconds: config.defaultRoundDeadlineSeconds,
          },
          log: (level, message, fields) => log.log(level, message, fields),
          leadership: election,
          // Only with replicas: alone, a message or a control for a job not running here is refused as before.
          ...(state.kind !== 'in-process' && {
            relay: (participant: string, event: AgentEvent, body: unknown) => channel.relay(participant, event, body),
            controlElsewhere: (job: string, action: JobControl, actor: string) =>
              void state.publish({ type: 'job-control', job, action, actor }).catch((err: Error) => log.error(`${action} of job ${job} to other replicas: ${err.message}`)),
          }),
          clock,
        });
        state.subscribe((event) => event.type === 'job-control' && engine.controlledElsewhere(event.job, event.action, event.actor));
        return engine;
      },
      inject: [STORE, AgentRelay, CoordinatorIdentity, AuditLog, CoordinatorLogger, COORDINATOR_CONFIG, CLOCK, LEADER_ELECTION, SHARED_STATE],
    },
    JobsService,
    AgentGateway,
  ],
  exports: [RoundEngine],
})
export class JobsModule {}
