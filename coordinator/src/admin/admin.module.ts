/**
 * What the admin API has beyond its features: health probes, metrics, its own
 * description and reference page, the dashboards' live namespace, the one
 * exception filter that gives every REST error the same shape, and the reading
 * of request bodies once the guard has let a request in.
 */
import { Module } from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR } from '@nestjs/core';
import { AuditModule } from '../audit/audit.module';
import { JobsModule } from '../jobs/jobs.module';
import { ParticipantsModule } from '../participants/participants.module';
import { UsersModule } from '../users/users.module';
import { AdminGateway } from './admin.gateway';
import { BodyInterceptor } from './body.interceptor';
import { RestErrorFilter } from './error.filter';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';
import { OpenApiController } from './openapi.controller';

@Module({
  imports: [AuditModule, UsersModule, ParticipantsModule, JobsModule],
  controllers: [HealthController, MetricsController, OpenApiController],
  providers: [AdminGateway, { provide: APP_FILTER, useClass: RestErrorFilter }, { provide: APP_INTERCEPTOR, useClass: BodyInterceptor }],
})
export class AdminModule {}
