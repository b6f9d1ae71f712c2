/**
 * `GET /api/session`: the role of the presented token, which the dashboard's
 * sign-in checks. A password login would add `POST /api/session` beside it,
 * answering with a token and the same view.
 */
import { Controller, Get, Req, UseGuards } from '@nestjs/common';
import { AdminGuard, type AuthenticatedRequest } from './admin.guard';
import type { SessionView } from './views';

@Controller('api/session')
@UseGuards(AdminGuard)
export class SessionController {
  @Get()
  session(@Req() request: AuthenticatedRequest): SessionView {
    return { role: request.role };
  }
}
