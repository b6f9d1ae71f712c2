/**
 * Who calls the admin API: users and their sign-in sessions, API tokens, and the
 * guard that applies roles to every REST route (a route is public only when
 * marked @Public()). Exports the credentials, which the live namespace checks too.
 */
import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuditModule } from '../audit/audit.module';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../config/config';
import { SHARED_STATE, type SharedState } from '../cluster/shared-state';
import { CoordinatorLogger } from '../logger';
import { STORE, type Store } from '../storage/store';
import { AdminGuard } from './admin.guard';
import { Credentials } from './credentials';
import { SessionController } from './session.controller';
import { TokensController } from './tokens.controller';
import { UsersController } from './users.controller';
import { SessionService, TokensService, UsersService } from './users.service';

@Module({
  imports: [AuditModule],
  controllers: [SessionController, UsersController, TokensController],
  providers: [
    {
      provide: Credentials,
      useFactory: (store: Store, config: CoordinatorConfig, state: SharedState, log: CoordinatorLogger) =>
        new Credentials(
          store,
          {
            adminToken: config.adminToken,
            viewerToken: config.viewerToken,
            sessionSeconds: config.sessionHours * 3600,
            loginFailures: state.limiter('sign-in', config.loginFailuresPerMinute, 60_000),
            concurrentPasswordChecks: config.maxConcurrentPasswordChecks,
          },
          state,
          (err) => log.error(`cannot tell the other replicas of revoked tokens: ${(err as Error).message}`),
        ),
      inject: [STORE, COORDINATOR_CONFIG, SHARED_STATE, CoordinatorLogger],
    },
    SessionService,
    UsersService,
    TokensService,
    { provide: APP_GUARD, useClass: AdminGuard },
  ],
  exports: [Credentials],
})
export class UsersModule {}
