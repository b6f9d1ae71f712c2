/**
 * Participants as the admin sees them: the registry's decisions, with each
 * participant's presence (from the live connections, on any replica) and contributions (from
 * the committed rounds).
 */
import { Inject, Injectable } from '@nestjs/common';
import type { DecisionRequest, ParticipantView, RegisterParticipantRequest } from '@fl/shared';
import { STORE, type ParticipantRecord, type Store } from '../storage/store';
import { AgentRelay } from '../cluster/agent-relay';
import { toParticipantView } from './participant.views';
import { ParticipantRegistry } from './registry';

export type Decision = 'approve' | 'reject' | 'revoke';

@Injectable()
export class ParticipantsService {
  constructor(
    @Inject(STORE) private readonly store: Store,
    /** agents connected to this replica or another */
    @Inject(AgentRelay) private readonly agents: AgentRelay,
    @Inject(ParticipantRegistry) private readonly registry: ParticipantRegistry,
  ) {}

  async list(): Promise<ParticipantView[]> {
    const contributions = await this.store.contributionCounts();
    return (await this.store.listParticipants()).map((p) => this.view(p, contributions.get(p.name) ?? 0));
  }

  async register(input: RegisterParticipantRequest, actor: string): Promise<ParticipantView> {
    return this.view(await this.registry.register(input, actor), 0);
  }

  async decide(name: string, action: Decision, input: DecisionRequest, actor: string): Promise<ParticipantView> {
    const record = await this.registry.decide(name, action, input, actor);
    return this.view(record, (await this.store.contributionCounts()).get(name) ?? 0);
  }

  private view(p: ParticipantRecord, roundsContributed: number): ParticipantView {
    return toParticipantView(p, { online: this.agents.isOnline(p.name), lastSeen: this.agents.seenAt(p.name) ?? null, roundsContributed });
  }
}
