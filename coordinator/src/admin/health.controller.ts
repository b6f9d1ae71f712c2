import { Controller, Get, Inject } from '@nestjs/common';
import type { HealthView } from '@fl/shared';
import { CoordinatorIdentity } from '../identity/identity';
import { Public } from '../users/admin.guard';

/** Unauthenticated: liveness, and the key agents compare out of band before pinning it. */
@Controller('api/health')
export class HealthController {
  constructor(@Inject(CoordinatorIdentity) private readonly identity: CoordinatorIdentity) {}

  @Get()
  @Public()
  health(): HealthView {
    return { status: 'ok', coordinatorKey: this.identity.publicKey, fingerprint: this.identity.fingerprint };
  }
}
