/**
 * REST for who takes part: participants (registered directly by an admin, or
 * enrolled with an invitation) and the admin's decisions on them; invitations;
 * and the public enrollment endpoint, which the invitation's token authenticates.
 */
import { Body, Controller, Delete, Get, HttpCode, Inject, Ip, Param, Post, Req } from '@nestjs/common';
import {
  DecisionRequestSchema,
  NewInvitationRequestSchema,
  RegisterParticipantRequestSchema,
  type CreatedInvitationView,
  type EnrolledResponse,
  type InvitationView,
  type ParticipantView,
} from '@fl/shared';
import { Public, type AuthenticatedRequest } from '../users/admin.guard';
import { parseBody } from '../validation';
import { ParticipantsService, type Decision } from './participants.service';
import { ParticipantRegistry } from './registry';

@Controller('api/participants')
export class ParticipantsController {
  constructor(@Inject(ParticipantsService) private readonly participants: ParticipantsService) {}

  @Post()
  @HttpCode(201)
  register(@Body() body: unknown, @Req() req: AuthenticatedRequest): Promise<ParticipantView> {
    return this.participants.register(parseBody(RegisterParticipantRequestSchema, body), req.principal.actor);
  }

  @Get()
  list(): Promise<ParticipantView[]> {
    return this.participants.list();
  }

  @Post(':name/approve')
  @HttpCode(200)
  approve(@Param('name') name: string, @Body() body: unknown, @Req() req: AuthenticatedRequest): Promise<ParticipantView> {
    return this.decide(name, 'approve', body, req);
  }

  @Post(':name/reject')
  @HttpCode(200)
  reject(@Param('name') name: string, @Body() body: unknown, @Req() req: AuthenticatedRequest): Promise<ParticipantView> {
    return this.decide(name, 'reject', body, req);
  }

  /** Effective at once: the live connection is closed and later messages are refused. */
  @Post(':name/revoke')
  @HttpCode(200)
  revoke(@Param('name') name: string, @Body() body: unknown, @Req() req: AuthenticatedRequest): Promise<ParticipantView> {
    return this.decide(name, 'revoke', body, req);
  }

  /** The body (a reason) may be left out. */
  private decide(name: string, action: Decision, body: unknown, req: AuthenticatedRequest): Promise<ParticipantView> {
    return this.participants.decide(name, action, parseBody(DecisionRequestSchema, body ?? {}), req.principal.actor);
  }
}

@Controller('api/invitations')
export class InvitationsController {
  constructor(@Inject(ParticipantRegistry) private readonly registry: ParticipantRegistry) {}

  /** The answer holds the one-time token: it is shown this once and stored only as a hash. */
  @Post()
  @HttpCode(201)
  create(@Body() body: unknown, @Req() req: AuthenticatedRequest): Promise<CreatedInvitationView> {
    return this.registry.createInvitation(parseBody(NewInvitationRequestSchema, body), req.principal.actor);
  }

  @Get()
  list(): Promise<InvitationView[]> {
    return this.registry.listInvitations();
  }

  @Delete(':id')
  cancel(@Param('id') id: string, @Req() req: AuthenticatedRequest): Promise<InvitationView> {
    return this.registry.cancelInvitation(id, req.principal.actor);
  }
}

@Controller('api/enrollments')
export class EnrollmentsController {
  constructor(@Inject(ParticipantRegistry) private readonly registry: ParticipantRegistry) {}

  /** The registry parses the body itself: a malformed enrollment counts against the address's failures. */
  @Post()
  @Public()
  @HttpCode(201)
  enroll(@Body() body: unknown, @Ip() address: string): Promise<EnrolledResponse> {
    return this.registry.enroll(body, address);
  }
}
