/**
 * What the admin API has beyond its features: health probes, metrics, its own description and
 * reference page, the dashboards' live namespace, and the one exception filter
 * that gives every REST error the same shape.
 */
import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AuditModule } from '../audit/audit.module';
import { JobsModule } from '../jobs/jobs.module';
import { ParticipantsModule } from '../participants/participants.module';
import { UsersModule } from '../users/users.module';
import { AdminGateway } from './admin.gateway';
import { RestErrorFilter } from './error.filter';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';
import { OpenApiController } from './openapi.controller';

@Module({
  imports: [AuditModule, UsersModule, ParticipantsModule, JobsModule],
  controllers: [HealthController, MetricsController, OpenApiController],
  providers: [AdminGateway, { provide: APP_FILTER, useClass: RestErrorFilter }],
})
export class AdminModule {}
