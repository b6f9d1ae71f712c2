/**
 * The consortium's participants: who they are, the key fingerprint to compare
 * out of band, whether they are connected, and how many rounds they have
 * contributed to, all kept current by the live feed.
 */
import { useEffect, useState } from 'react';
import { ErrorNote } from '../components/ErrorNote';
import { PageHeading } from '../components/PageHeading';
import { formatAgo } from '../format';
import { useLiveEvent } from '../live';
import { useResource } from '../resource';
import type { ParticipantView } from '../types';

/** The current time, moving on every `everyMs`, for "last seen … ago". */
function useNow(everyMs: number): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

export function ParticipantsPage() {
  const participants = useResource('participants', (api) => api.participants());
  const now = useNow(15_000);

  useLiveEvent('participant', (presence) => {
    if (!participants.data?.some((p) => p.name === presence.name)) return participants.reload();
    participants.setData((list) => list?.map((p) => (p.name === presence.name ? { ...p, online: presence.online, lastSeen: presence.lastSeen } : p)));
  });
  useLiveEvent('job', (event) => {
    // 'evaluation' repeats a round already counted: only a newly committed round adds.
    if (event.type !== 'round') return;
    const contributed = new Set(event.round.contributors.map((c) => c.participant));
    participants.setData((list) => list?.map((p) => (contributed.has(p.name) ? { ...p, roundsContributed: p.roundsContributed + 1 } : p)));
  });

  const online = participants.data?.filter((p) => p.online).length ?? 0;
  return (
    <>
      <PageHeading title="Participants" />
      <ErrorNote error={participants.error} what="the participants" />
      {participants.data && (
        <p className="muted" role="status">
          {participants.data.length} registered, {online} online
        </p>
      )}
      {participants.data && participants.data.length === 0 && <p className="empty">No participant is registered yet.</p>}
      {participants.data && participants.data.length > 0 && (
        <div className="table-wrap" role="region" aria-label="Participants" tabIndex={0}>
          <table className="stack" data-testid="participants-table">
            <thead>
              <tr>
                <th scope="col">Participant</th>
                <th scope="col">Organisation</th>
                {/* Country: a column here once registrations carry one. */}
                <th scope="col">Key fingerprint</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">
                  Rounds contributed
                </th>
              </tr>
            </thead>
            <tbody>
              {participants.data.map((p) => (
                <ParticipantRow key={p.name} participant={p} now={now} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {/* Pending invitations and enrollments, with approve, reject and revoke:
          a section here once the coordinator keeps them. */}
    </>
  );
}

function ParticipantRow({ participant: p, now }: { participant: ParticipantView; now: number }) {
  const seen = p.lastSeen === null ? 'not seen since the coordinator started' : `last seen ${formatAgo(p.lastSeen, now)}`;
  return (
    <tr data-participant={p.name}>
      <th scope="row">{p.name}</th>
      <td data-label="Organisation">{p.organisation}</td>
      <td data-label="Key fingerprint">
        <code className="fingerprint">{p.fingerprint}</code>
      </td>
      <td data-label="Status">
        <span className={`presence ${p.online ? 'online' : 'offline'}`}>
          <span className="dot" aria-hidden="true" />
          {p.online ? 'online' : 'offline'}
        </span>
        {!p.online && <span className="muted small"> · {seen}</span>}
      </td>
      <td className="num" data-label="Rounds contributed" data-testid="rounds-contributed">
        {p.roundsContributed}
      </td>
    </tr>
  );
}
