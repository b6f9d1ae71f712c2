/** Participants and invitations as the API shows them: never an invitation token's digest. */
import { decodePublicKey, fingerprint, type InvitationStatus, type InvitationView, type ParticipantView } from '@fl/shared';
import type { InvitationRecord, ParticipantRecord } from '../storage/store';

export function invitationStatus(i: InvitationRecord, now: number): InvitationStatus {
  if (i.cancelledAt !== null) return 'cancelled';
  if (i.usedAt !== null) return 'used';
  return i.expiresAt <= now ? 'expired' : 'open';
}

export const toInvitationView = (i: InvitationRecord, now: number): InvitationView => ({
  id: i.id,
  organisation: i.organisation,
  country: i.country,
  name: i.name,
  expiresAt: i.expiresAt,
  createdAt: i.createdAt,
  createdBy: i.createdBy,
  cancelledAt: i.cancelledAt,
  usedAt: i.usedAt,
  usedBy: i.usedBy,
  status: invitationStatus(i, now),
});

/** What the store does not hold: whether the participant is connected, and how much it contributed. */
export interface ParticipantActivity {
  online: boolean;
  lastSeen: number | null;
  roundsContributed: number;
}

export const toParticipantView = (p: ParticipantRecord, activity: ParticipantActivity): ParticipantView => ({
  name: p.name,
  organisation: p.organisation,
  country: p.country,
  publicKey: p.publicKey,
  fingerprint: fingerprint(decodePublicKey(p.publicKey)!),
  status: p.status,
  invitation: p.invitation,
  decidedAt: p.decidedAt,
  decidedBy: p.decidedBy,
  createdAt: p.createdAt,
  online: activity.online,
  lastSeen: activity.lastSeen,
  roundsContributed: activity.roundsContributed,
});
