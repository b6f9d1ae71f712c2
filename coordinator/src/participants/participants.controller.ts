/**
 * REST for who takes part: participants (registered directly by an admin, or
 * enrolled with an invitation) and the admin's decisions on them; invitations;
 * and the public enrollment endpoint, which the invitation's token authenticates.
 */
import { Body, Controller, Delete, Get, HttpCode, Inject, Ip, Param, Post, Req } from '@nestjs/common';
import type { EnrolledResponse } from '@fl/shared';
import { AgentConnections } from '../participants/connections';
import { participantFingerprint, ParticipantRegistry, type InvitationView } from '../participants/registry';
import { STORE, type ParticipantRecord, type Store } from '../storage/store';
import { Public, type AuthenticatedRequest } from './admin.guard';
import type { ParticipantView } from './views';

@Controller('api/participants')
export class ParticipantsController {
  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(AgentConnections) private readonly connections: AgentConnections,
    @Inject(ParticipantRegistry) private readonly registry: ParticipantRegistry,
  ) {}

  @Post()
  @HttpCode(201)
  register(@Body() body: unknown, @Req() req: AuthenticatedRequest): ParticipantView {
    return this.view(this.registry.register(body, req.principal.actor), 0);
  }

  @Get()
  list(): ParticipantView[] {
    const contributions = this.store.contributionCounts();
    return this.store.listParticipants().map((p) => this.view(p, contributions.get(p.name) ?? 0));
  }

  @Post(':name/approve')
  @HttpCode(200)
  approve(@Param('name') name: string, @Body() body: unknown, @Req() req: AuthenticatedRequest): ParticipantView {
    return this.decide(name, 'approve', body, req);
  }

  @Post(':name/reject')
  @HttpCode(200)
  reject(@Param('name') name: string, @Body() body: unknown, @Req() req: AuthenticatedRequest): ParticipantView {
    return this.decide(name, 'reject', body, req);
  }

  /** Effective at once: the live connection is closed and later messages are refused. */
  @Post(':name/revoke')
  @HttpCode(200)
  revoke(@Param('name') name: string, @Body() body: unknown, @Req() req: AuthenticatedRequest): ParticipantView {
    return this.decide(name, 'revoke', body, req);
  }

  private decide(name: string, action: 'approve' | 'reject' | 'revoke', body: unknown, req: AuthenticatedRequest): ParticipantView {
    const record = this.registry.decide(name, action, body, req.principal.actor);
    return this.view(record, this.store.contributionCounts().get(name) ?? 0);
  }

  private view(p: ParticipantRecord, roundsContributed: number): ParticipantView {
    return {
      ...p,
      fingerprint: participantFingerprint(p),
      online: this.connections.isOnline(p.name),
      lastSeen: this.connections.seenAt(p.name) ?? null,
      roundsContributed,
    };
  }
}

@Controller('api/invitations')
export class InvitationsController {
  constructor(@Inject(ParticipantRegistry) private readonly registry: ParticipantRegistry) {}

  /** The answer holds the one-time token: it is shown this once and stored only as a hash. */
  @Post()
  @HttpCode(201)
  create(@Body() body: unknown, @Req() req: AuthenticatedRequest): InvitationView & { token: string } {
    const { invitation, token } = this.registry.createInvitation(body, req.principal.actor);
    return { ...invitation, token };
  }

  @Get()
  list(): InvitationView[] {
    return this.registry.listInvitations();
  }

  @Delete(':id')
  cancel(@Param('id') id: string, @Req() req: AuthenticatedRequest): InvitationView {
    return this.registry.cancelInvitation(id, req.principal.actor);
  }
}

@Controller('api/enrollments')
export class EnrollmentsController {
  constructor(@Inject(ParticipantRegistry) private readonly registry: ParticipantRegistry) {}

  @Post()
  @Public()
  @HttpCode(201)
  enroll(@Body() body: unknown, @Ip() address: string): EnrolledResponse {
    return this.registry.enroll(body, address);
  }
}
