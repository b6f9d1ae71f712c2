/** The coordinator's Nest module, wired from a parsed configuration. */
import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import * as path from 'node:path';
import { AdminGateway } from './admin/admin.gateway';
import { AdminGuard } from './admin/admin.guard';
import { Credentials } from './admin/credentials';
import { RestErrorFilter } from './admin/error.filter';
import { HealthController } from './admin/health.controller';
import { AuditController } from './admin/audit.controller';
import { JobsController } from './admin/jobs.controller';
import { EnrollmentsController, InvitationsController, ParticipantsController } from './admin/participants.controller';
import { SessionController, TokensController, UsersController } from './admin/session.controller';
import { AuditLog } from './audit/audit-log';
import { AuditVerifier } from './audit/audit-verifier';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from './config/config';
import { CoordinatorIdentity } from './identity/identity';
import { CoordinatorLogger } from './logger';
import { AgentGateway } from './participants/agent.gateway';
import { AgentConnections } from './participants/connections';
import { FailureLimiter } from './failure-limiter';
import { HandshakeVerifier } from './participants/handshake';
import { RoundEngine } from './rounds/round-engine';
import { ParticipantRegistry } from './participants/registry';
import { SqliteStore, STORE_FILE } from './storage/store.sqlite';
import { STORE, type Store } from './storage/store';
import { fedAvg } from './strategy/fedavg';

@Module({})
export class CoordinatorModule {
  static forConfig(config: CoordinatorConfig): DynamicModule {
    const storeFile = path.join(config.dataDir, STORE_FILE);
    return {
      module: CoordinatorModule,
      controllers: [
        HealthController,
        SessionController,
        UsersController,
        TokensController,
        ParticipantsController,
        InvitationsController,
        EnrollmentsController,
        JobsController,
        AuditController,
      ],
      providers: [
        { provide: COORDINATOR_CONFIG, useValue: config },
        {
          provide: Credentials,
          useFactory: (store: Store) =>
            new Credentials(store, {
              adminToken: config.adminToken,
              viewerToken: config.viewerToken,
              sessionSeconds: config.sessionHours * 3600,
              loginFailures: new FailureLimiter(config.loginFailuresPerMinute, 60_000),
            }),
          inject: [STORE],
        },
        { provide: CoordinatorLogger, useValue: new CoordinatorLogger(config.logLevel) },
        { provide: STORE, useFactory: () => new SqliteStore(storeFile) },
        {
          provide: AuditVerifier,
          useFactory: (store: Store, log: CoordinatorLogger) => new AuditVerifier(store, storeFile, (level, message) => log.log(level, message)),
          inject: [STORE, CoordinatorLogger],
        },
        { provide: CoordinatorIdentity, useFactory: () => CoordinatorIdentity.fromDataDir(config.dataDir) },
        { provide: AuditLog, useFactory: (store: Store, identity: CoordinatorIdentity) => new AuditLog(store, identity), inject: [STORE, CoordinatorIdentity] },
        { provide: AgentConnections, useValue: new AgentConnections(config.maxFrameBytes) },
        {
          provide: ParticipantRegistry,
          useFactory: (store: Store, audit: AuditLog, identity: CoordinatorIdentity, connections: AgentConnections) =>
            new ParticipantRegistry({
              store,
              audit,
              identity,
              connections,
              windowMs: config.handshakeWindowSeconds * 1000,
              failures: new FailureLimiter(config.handshakeFailuresPerMinute, 60_000),
            }),
          inject: [STORE, AuditLog, CoordinatorIdentity, AgentConnections],
        },
        {
          provide: HandshakeVerifier,
          useFactory: (store: Store) =>
            new HandshakeVerifier(store, config.handshakeWindowSeconds * 1000, new FailureLimiter(config.handshakeFailuresPerMinute, 60_000)),
          inject: [STORE],
        },
        {
          provide: RoundEngine,
          useFactory: (store: Store, channel: AgentConnections, identity: CoordinatorIdentity, audit: AuditLog, log: CoordinatorLogger) =>
            new RoundEngine({
              store,
              channel,
              identity,
              audit,
              retention: { rounds: config.retainUpdateRounds, maxModelBytes: config.retainMaxModelBytes },
              strategy: fedAvg,
              maxRoundAttempts: config.maxRoundAttempts,
              jobDefaults: {
                minParticipants: config.defaultMinParticipants,
                roundDeadlineSeconds: config.defaultRoundDeadlineSeconds,
              },
              log: (level, message) => log.log(level, message),
            }),
          inject: [STORE, AgentConnections, CoordinatorIdentity, AuditLog, CoordinatorLogger],
        },
        // Every REST route is guarded unless marked @Public().
        { provide: APP_GUARD, useClass: AdminGuard },
        AgentGateway,
        AdminGateway,
        { provide: APP_FILTER, useClass: RestErrorFilter },
      ],
    };
  }
}
