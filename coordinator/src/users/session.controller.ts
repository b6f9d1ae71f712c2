/**
 * Sign-in: `POST /api/session` trades a user name and password for a session
 * token; `GET` tells who the token is; `DELETE` signs out.
 */
import { Body, Controller, Delete, Get, HttpCode, Inject, Ip, Post, Req } from '@nestjs/common';
import { FlError, LoginRequestSchema, type SessionView, type SignedInView } from '@fl/shared';
import { Metrics } from '../core/metrics';
import { parseBody } from '../validation';
import { Public, SignedIn, type AuthenticatedRequest } from './admin.guard';
import { SessionService } from './users.service';

@Controller('api/session')
export class SessionController {
  constructor(
    @Inject(SessionService) private readonly sessions: SessionService,
    @Inject(Metrics) private readonly metrics: Metrics,
  ) {}

  @Post()
  @Public()
  @HttpCode(201)
  async signIn(@Body() body: unknown, @Ip() address: string): Promise<SignedInView> {
    try {
      return await this.sessions.signIn(parseBody(LoginRequestSchema, body), address);
    } catch (err) {
      this.metrics.signInFailures.inc({ code: err instanceof FlError ? err.code : 'INTERNAL' });
      throw err;
    }
  }

  @Get()
  session(@Req() request: AuthenticatedRequest): SessionView {
    return { role: request.principal.role, user: request.principal.user };
  }

  /** Signs out: the session token stops working. Configured tokens cannot be signed out. */
  @Delete()
  @SignedIn()
  @HttpCode(204)
  async signOut(@Req() request: AuthenticatedRequest): Promise<void> {
    await this.sessions.signOut(request.principal);
  }
}
