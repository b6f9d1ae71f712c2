/**
 * The coordinator's Nest application: a module per feature, on a core made
 * from the parsed configuration. Features import one way:
 * admin -> jobs -> participants -> audit, users -> audit, all on core and cluster.
 */
import { Module, type DynamicModule } from '@nestjs/common';
import { AdminModule } from './admin/admin.module';
import { AuditModule } from './audit/audit.module';
import { ClusterModule } from './cluster/cluster.module';
import type { CoordinatorConfig } from './config/config';
import type { Clock } from './core/clock';
import { CoreModule } from './core/core.module';
import { JobsModule } from './jobs/jobs.module';
import { ParticipantsModule } from './participants/participants.module';
import { UsersModule } from './users/users.module';

@Module({})
export class CoordinatorModule {
  static forConfig(config: CoordinatorConfig, clock: Clock): DynamicModule {
    return {
      module: CoordinatorModule,
      imports: [CoreModule.forConfig(config, clock), ClusterModule.forConfig(config), AuditModule, UsersModule, ParticipantsModule, JobsModule, AdminModule],
    };
  }
}
