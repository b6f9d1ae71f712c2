/**
 * REST authentication and roles: `Authorization: Bearer <token>` with the admin
 * token for everything, or the viewer token for reads (GET) only.
 */
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { FlError } from '@fl/shared';
import { Credentials } from './credentials';
import type { Role } from './views';

/** The request after the guard: it carries the caller's role. */
export type AuthenticatedRequest = Request & { role: Role };

@Injectable()
export class AdminGuard implements CanActivate {
  constructor(@Inject(Credentials) private readonly credentials: Credentials) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const match = /^Bearer (.+)$/.exec(request.headers.authorization ?? '');
    const role = match ? this.credentials.roleOf(match[1]) : null;
    if (!role) throw new FlError('UNAUTHORIZED', 'send the admin or viewer token as Authorization: Bearer <token>');
    if (!Credentials.allows(role, request.method)) {
      throw new FlError('FORBIDDEN', `the ${role} role can read but not change anything`);
    }
    request.role = role;
    return true;
  }
}
