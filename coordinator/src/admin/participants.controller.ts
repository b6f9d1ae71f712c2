/** REST for participants: the admin registers them by name, organisation and public key. */
import { Body, Controller, Get, HttpCode, Inject, Post, UseGuards } from '@nestjs/common';
import { decodePublicKey, fingerprint, FlError } from '@fl/shared';
import { z } from 'zod';
import { AgentConnections } from '../participants/connections';
import { describeZodError } from '../rounds/round-engine';
import { STORE, type ParticipantRecord, type Store } from '../storage/store';
import { AdminGuard } from './admin.guard';
import type { ParticipantView } from './views';

export const RegisterParticipantSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'letters, digits, dot, dash and underscore, up to 100'),
  organisation: z.string().min(1).max(200),
  publicKey: z.string().refine((k) => decodePublicKey(k) !== null, 'a base64 Ed25519 public key (32 bytes)'),
});

@Controller('api/participants')
@UseGuards(AdminGuard)
export class ParticipantsController {
  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(AgentConnections) private readonly connections: AgentConnections,
  ) {}

  @Post()
  @HttpCode(201)
  register(@Body() body: unknown) {
    const parsed = RegisterParticipantSchema.safeParse(body);
    if (!parsed.success) throw new FlError('VALIDATION_FAILED', describeZodError(parsed.error));
    const record: ParticipantRecord = { ...parsed.data, createdAt: Date.now() };
    this.store.addParticipant(record);
    return this.view(record, 0);
  }

  @Get()
  list(): ParticipantView[] {
    const contributions = this.store.contributionCounts();
    return this.store.listParticipants().map((p) => this.view(p, contributions.get(p.name) ?? 0));
  }

  private view(p: ParticipantRecord, roundsContributed: number): ParticipantView {
    return {
      ...p,
      fingerprint: fingerprint(decodePublicKey(p.publicKey)!),
      online: this.connections.isOnline(p.name),
      lastSeen: this.connections.seenAt(p.name) ?? null,
      roundsContributed,
    };
  }
}
