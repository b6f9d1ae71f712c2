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

  list(): ParticipantView[] {
    const contributions = this.store.contributionCounts();
    return this.store.listParticipants().map((p) => this.view(p, contributions.get(p.name) ?? 0));
  }

  register(input: RegisterParticipantRequest, actor: string): ParticipantView {
    return this.view(this.registry.register(input, actor), 0);
  }

  decide(name: string, action: Decision, input: DecisionRequest, actor: string): ParticipantView {
    const record = this.registry.decide(name, action, input, actor);
    return this.view(record, this.store.contributionCounts().get(name) ?? 0);
  }

  private view(p: ParticipantRecord, roundsContributed: number): ParticipantView {
    return toParticipantView(p, { online: this.agents.isOnline(p.name), lastSeen: this.agents.seenAt(p.name) ?? null, roundsContributed });
  }
}
