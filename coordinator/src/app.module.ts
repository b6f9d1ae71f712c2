/** The coordinator's Nest module, wired from a parsed configuration. */
import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import * as path from 'node:path';
import { AdminGateway } from './admin/admin.gateway';
import { AdminGuard } from './admin/admin.guard';
import { Credentials } from './admin/credentials';
import { RestErrorFilter } from './admin/error.filter';
import { HealthController } from './admin/health.controller';
import { JobsController } from './admin/jobs.controller';
import { ParticipantsController } from './admin/participants.controller';
import { SessionController } from './admin/session.controller';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from './config/config';
import { CoordinatorIdentity } from './identity/identity';
import { CoordinatorLogger } from './logger';
import { AgentGateway } from './participants/agent.gateway';
import { AgentConnections } from './participants/connections';
import { FailureLimiter, HandshakeVerifier } from './participants/handshake';
import { RoundEngine } from './rounds/round-engine';
import { SqliteStore } from './storage/store.sqlite';
import { STORE, type Store } from './storage/store';
import { fedAvg } from './strategy/fedavg';

@Module({})
export class CoordinatorModule {
  static forConfig(config: CoordinatorConfig, adminToken: string): DynamicModule {
    return {
      module: CoordinatorModule,
      controllers: [HealthController, SessionController, ParticipantsController, JobsController],
      providers: [
        { provide: COORDINATOR_CONFIG, useValue: config },
        { provide: Credentials, useValue: new Credentials(adminToken, config.viewerToken) },
        { provide: CoordinatorLogger, useValue: new CoordinatorLogger(config.logLevel) },
        { provide: STORE, useFactory: () => new SqliteStore(path.join(config.dataDir, 'coordinator.sqlite')) },
        { provide: CoordinatorIdentity, useFactory: () => CoordinatorIdentity.fromDataDir(config.dataDir) },
        { provide: AgentConnections, useValue: new AgentConnections() },
        {
          provide: HandshakeVerifier,
          useFactory: (store: Store) =>
            new HandshakeVerifier(store, config.handshakeWindowSeconds * 1000, new FailureLimiter(config.handshakeFailuresPerMinute, 60_000)),
          inject: [STORE],
        },
        {
          provide: RoundEngine,
          useFactory: (store: Store, channel: AgentConnections, identity: CoordinatorIdentity, log: CoordinatorLogger) =>
            new RoundEngine({
              store,
              channel,
              identity,
              strategy: fedAvg,
              maxRoundAttempts: config.maxRoundAttempts,
              jobDefaults: {
                minParticipants: config.defaultMinParticipants,
                roundDeadlineSeconds: config.defaultRoundDeadlineSeconds,
              },
              log: (level, message) => log.log(level, message),
            }),
          inject: [STORE, AgentConnections, CoordinatorIdentity, CoordinatorLogger],
        },
        AdminGuard,
        AgentGateway,
        AdminGateway,
        { provide: APP_FILTER, useClass: RestErrorFilter },
      ],
    };
  }
}
