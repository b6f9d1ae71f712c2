/** The audit log: writing it (for every feature that records an act), reading and verifying it over REST. */
import { Module } from '@nestjs/common';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../config/config';
import { storeFile } from '../core/core.module';
import { CoordinatorIdentity } from '../identity/identity';
import { CoordinatorLogger } from '../logger';
import { STORE, type Store } from '../storage/store';
import { AuditLog } from './audit-log';
import { AuditVerifier } from './audit-verifier';
import { AuditController } from './audit.controller';
import { AuditService } from './audit.service';

@Module({
  controllers: [AuditController],
  providers: [
    { provide: AuditLog, useFactory: (store: Store, identity: CoordinatorIdentity) => new AuditLog(store, identity), inject: [STORE, CoordinatorIdentity] },
    {
      provide: AuditVerifier,
      useFactory: (store: Store, config: CoordinatorConfig, log: CoordinatorLogger) =>
        new AuditVerifier(store, storeFile(config), (level, message) => log.log(level, message)),
      inject: [STORE, COORDINATOR_CONFIG, CoordinatorLogger],
    },
    AuditService,
  ],
  exports: [AuditLog, AuditVerifier],
})
export class AuditModule {}
