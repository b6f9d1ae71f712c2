/** The audit log: writing it (for every feature that records an act), anchoring its tail, reading and verifying it over REST. */
import { Inject, Module, type OnModuleDestroy } from '@nestjs/common';
import * as path from 'node:path';
import { AUDIT_ANCHORS_FILE } from '@fl/shared';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../config/config';
import { CoordinatorIdentity } from '../identity/identity';
import { CoordinatorLogger } from '../logger';
import { STORE, type Store } from '../storage/store';
import { storeLocation } from '../core/core.module';
import { AuditAnchors } from './audit-anchors';
import { AuditLog } from './audit-log';
import { AuditVerifier } from './audit-verifier';
import { AuditController } from './audit.controller';
import { AuditService } from './audit.service';

@Module({
  controllers: [AuditController],
  providers: [
    { provide: AuditLog, useFactory: (store: Store, identity: CoordinatorIdentity) => AuditLog.open(store, identity), inject: [STORE, CoordinatorIdentity] },
    {
      provide: AuditAnchors,
      useFactory: async (store: Store, config: CoordinatorConfig, log: CoordinatorLogger) => {
        const anchors = new AuditAnchors(store, anchorsFile(config), log, config.auditAnchorUrl);
        await anchors.checkHead();
        return anchors;
      },
      inject: [STORE, COORDINATOR_CONFIG, CoordinatorLogger],
    },
    {
      provide: AuditVerifier,
      useFactory: (store: Store, config: CoordinatorConfig, log: CoordinatorLogger) =>
        new AuditVerifier(store, storeLocation(config), anchorsFile(config), (level, message) => log.log(level, message)),
      inject: [STORE, COORDINATOR_CONFIG, CoordinatorLogger],
    },
    AuditService,
  ],
  exports: [AuditLog, AuditVerifier],
})
export class AuditModule implements OnModuleDestroy {
  private readonly unwatch: () => void;

  constructor(@Inject(AuditAnchors) private readonly anchors: AuditAnchors, @Inject(AuditLog) audit: AuditLog) {
    this.unwatch = anchors.watch(audit);
  }

  async onModuleDestroy(): Promise<void> {
    this.unwatch();
    // The last records of a stopping coordinator are anchored too.
    await this.anchors.anchor();
  }
}

/** The anchors of the audit log's tail: beside the store, outside it. */
export const anchorsFile = (config: CoordinatorConfig) => path.join(config.dataDir, AUDIT_ANCHORS_FILE);
