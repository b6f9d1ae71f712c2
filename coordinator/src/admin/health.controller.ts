import { Controller, Get, HttpStatus, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { HealthView, LivenessView, ReadinessView } from '@fl/shared';
import { CoordinatorIdentity } from '../identity/identity';
import { CoordinatorLogger } from '../logger';
import { STORE, type Store } from '../storage/store';
import { Public } from '../users/admin.guard';

/**
 * Unauthenticated: liveness, readiness, and the key agents compare out of band
 * before pinning it. Liveness checks nothing but the process, so that a slow or
 * lost database takes the coordinator out of a load balancer (readiness) without
 * getting it restarted over and over.
 */
@Controller('api/health')
export class HealthController {
  constructor(
    @Inject(CoordinatorIdentity) private readonly identity: CoordinatorIdentity,
    @Inject(STORE) private readonly store: Store,
    @Inject(CoordinatorLogger) private readonly log: CoordinatorLogger,
  ) {}

  @Get()
  @Public()
  health(): HealthView {
    return { status: 'ok', coordinatorKey: this.identity.publicKey, fingerprint: this.identity.fingerprint };
  }

  @Get('live')
  @Public()
  live(): LivenessView {
    return { status: 'ok' };
  }

  /** A real query on the store; its error goes to the log, not to the unauthenticated caller. */
  @Get('ready')
  @Public()
  async ready(@Res({ passthrough: true }) response: Response): Promise<ReadinessView> {
    try {
      await this.store.auditHead();
      return { status: 'ready', store: 'ok' };
    } catch (err) {
      this.log.error(`readiness: the store did not answer: ${(err as Error).message}`);
      response.status(HttpStatus.SERVICE_UNAVAILABLE);
      return { status: 'unready', store: 'failing' };
    }
  }
}
