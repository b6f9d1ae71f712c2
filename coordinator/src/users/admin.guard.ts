/**
 * REST authentication and roles, applied to every route of the API: a route is
 * public only when marked @Public(). `Authorization: Bearer <token>`; an admin
 * may do anything, a viewer may read (GET) except what is marked @AdminOnly().
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { FlError } from '@fl/shared';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../config/config';
import { Credentials, type Principal } from './credentials';

/** The request after the guard: it carries the caller. */
export type AuthenticatedRequest = Request & { principal: Principal };

/** The metadata key of a route's access; the API description is checked against it. */
export const ACCESS = 'fl:access';
export type Access = 'public' | 'admin-only' | 'signed-in';

/** Open to anyone: liveness, sign-in, and enrollment (which its invitation token authenticates). */
export const Public = () => SetMetadata(ACCESS, 'public' satisfies Access);
/** Admins only, reads included: users and tokens are not for viewers. */
export const AdminOnly = () => SetMetadata(ACCESS, 'admin-only' satisfies Access);
/** Any signed-in caller, whatever the method: signing out changes nothing but one's own session. */
export const SignedIn = () => SetMetadata(ACCESS, 'signed-in' satisfies Access);

/** The metadata key of a route the metrics token may also read (GET /metrics), besides its access. */
export const SCRAPE = 'fl:scrape';
export const MetricsTokenToo = () => SetMetadata(SCRAPE, true);

const digest = (token: string) => createHash('sha256').update(token).digest();

export function bearerToken(request: Request): string | undefined {
  return /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
}

@Injectable()
export class AdminGuard implements CanActivate {
  constructor(
    @Inject(Credentials) private readonly credentials: Credentials,
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(COORDINATOR_CONFIG) private readonly config: Pick<CoordinatorConfig, 'metricsToken'> = {},
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const access = this.reflector.getAllAndOverride<Access | undefined>(ACCESS, [context.getHandler(), context.getClass()]);
    if (access === 'public') return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    if (this.isMetricsToken(request) && this.reflector.getAllAndOverride<boolean | undefined>(SCRAPE, [context.getHandler(), context.getClass()])) return true;
    const principal = await this.credentials.identify(bearerToken(request));
    if (!principal) throw new FlError('UNAUTHORIZED', 'sign in, or send a token as Authorization: Bearer <token>');
    if (principal.role !== 'admin' && access !== 'signed-in' && (access === 'admin-only' || !Credentials.allows(principal.role, request.method))) {
      throw new FlError('FORBIDDEN', access === 'admin-only' ? 'only admins may do this' : `the ${principal.role} role can read but not change anything`);
    }
    request.principal = principal;
    return true;
  }

  /** Compared as digests, in constant time: the token's length and content stay secret. */
  private isMetricsToken(request: Request): boolean {
    const presented = bearerToken(request);
    return this.config.metricsToken !== undefined && presented !== undefined && timingSafeEqual(digest(presented), digest(this.config.metricsToken));
  }
}
