/**
 * The consortium's participants: who they are, the key fingerprint to compare
 * out of band, whether an admin approved them, whether they are connected, and
 * how many rounds they have contributed to, kept current by the live feed; and
 * a link to the audit records about each.
 * Admins decide on enrollments here, revoke participants, and invite new sites;
 * viewers see the same without the actions (the server refuses them anyway).
 */
import type { TFunction } from 'i18next';
import { useEffect, useState, type FormEvent } from 'react';
import { Trans, useTranslation } from 'react-i18next';
import type { ParticipantAction, WithSecret } from '../api';
import { auditLink } from '../audit';
import { ConfirmDialog, type Confirmation } from '../components/ConfirmDialog';
import { ErrorNote } from '../components/ErrorNote';
import { Field } from '../components/Field';
import { CopyButton, OneTimeSecret } from '../components/OneTimeSecret';
import { PageHeading } from '../components/PageHeading';
import { StatusBadge } from '../components/StatusBadge';
import { Table, type Column } from '../components/Table';
import { formatAgo, formatTime } from '../format';
import { describeError, formatActor } from '../messages';
import { refusedFields, without, type FormErrors } from '../forms';
import { useLiveEvent } from '../live';
import { useResource, type Resource } from '../resource';
import { Link } from '../router';
import { useSession } from '../session';
import type { InvitationView, ParticipantView } from '../types';
import { FormActions } from '../components/FormActions';

/** The current time, moving on every `everyMs`, for "last seen … ago". */
function useNow(everyMs: number): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

type Ask = (confirmation: Confirmation) => void;

/** What a row needs to act: where a decided participant goes, and how to ask before a decision. */
interface Deciding {
  onDecided: (p: ParticipantView) => void;
  ask: Ask;
}

export function ParticipantsPage() {
  const { t } = useTranslation();
  const participants = useResource('participants', (api) => api.participants());
  const invitations = useResource('invitations', (api) => api.invitations());
  const [confirmation, setConfirmation] = useState<Confirmation>();
  const now = useNow(15_000);
  const { reload: reloadParticipants } = participants;
  const { reload: reloadInvitations } = invitations;

  // Enrollments, decisions and invitations, by anyone, come as audit records on the live feed.
  useLiveEvent('audit', (event) => {
    if (event.kinds.some((kind) => kind.startsWith('participant.') || kind.startsWith('invitation.'))) {
      reloadParticipants();
      reloadInvitations();
    }
  });
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

  const replace = (changed: ParticipantView) => participants.setData((list) => list?.map((p) => (p.name === changed.name ? changed : p)));
  const pending = participants.data?.filter((p) => p.status === 'pending') ?? [];
  const online = participants.data?.filter((p) => p.online).length ?? 0;
  const approved = participants.data?.filter((p) => p.status === 'approved').length ?? 0;

  return (
    <>
      <PageHeading title={t('participants.title')} />
      <ErrorNote error={participants.error} what={t('participants.what')} />
      {participants.data && (
        <p className="muted" role="status">
          {t('participants.summary', { count: participants.data.length, approved, pending: pending.length, online })}
        </p>
      )}
      {pending.length > 0 && (
        <PendingEnrollments pending={pending} now={now} onDecided={replace} ask={setConfirmation} />
      )}
      {participants.data && participants.data.length === 0 && <p className="empty">{t('participants.empty')}</p>}
      {participants.data && participants.data.length > 0 && (
        <section aria-labelledby="participants-title">
          <h2 id="participants-title">{t('participants.all')}</h2>
          <ParticipantTable participants={participants.data} now={now} onDecided={replace} ask={setConfirmation} />
        </section>
      )}
      <Invitations invitations={invitations} now={now} ask={setConfirmation} />
      {confirmation && <ConfirmDialog confirmation={confirmation} onClose={() => setConfirmation(undefined)} />}
    </>
  );
}

function decidedText(t: TFunction, p: ParticipantView, now: number): string | null {
  if (p.status === 'pending') return t('participants.enrolledAgo', { ago: formatAgo(p.createdAt, now) });
  if (p.decidedAt === null) return null;
  return t('participants.decidedBy', { actor: p.decidedBy === null ? t('actors.unknown') : formatActor(t, p.decidedBy), ago: formatAgo(p.decidedAt, now) });
}

function PendingEnrollments({ pending, now, onDecided, ask }: { pending: ParticipantView[]; now: number } & Deciding) {
  const { t } = useTranslation();
  return (
    <section className="pending" aria-labelledby="pending-title">
      <h2 id="pending-title">{t('participants.pending')}</h2>
      <p className="hint">{t('participants.pendingHint')}</p>
      <Table
        rows={pending}
        rowKey={(p) => p.name}
        rowData={(p) => ({ participant: p.name })}
        labelledBy="pending-title"
        testId="pending-table"
        columns={[
          ...identityColumns(t),
          { key: 'enrolled', label: t('participants.enrolled'), title: (p) => formatTime(p.createdAt), render: (p) => formatAgo(p.createdAt, now) },
          { key: 'decision', label: t('participants.decision'), hideLabel: true, render: (p) => <ParticipantActions participant={p} onDecided={onDecided} ask={ask} /> },
        ]}
      />
    </section>
  );
}

/** Who a participant is: the first columns of both participant tables. */
const identityColumns = (t: TFunction): Column<ParticipantView>[] => [
  { key: 'name', label: t('participants.participant'), rowHeader: true, render: (p) => p.name },
  { key: 'organisation', label: t('participants.organisation'), render: (p) => p.organisation },
  { key: 'country', label: t('participants.country'), render: (p) => p.country || '–' },
  { key: 'fingerprint', label: t('participants.fingerprint'), render: (p) => <code className="fingerprint">{p.fingerprint}</code> },
];

function ParticipantTable({ participants, now, onDecided, ask }: { participants: ParticipantView[]; now: number } & Deciding) {
  const { t } = useTranslation();
  const { canEdit } = useSession();
  return (
    <Table
      rows={participants}
      rowKey={(p) => p.name}
      rowData={(p) => ({ participant: p.name })}
      labelledBy="participants-title"
      testId="participants-table"
      columns={[
        ...identityColumns(t),
        { key: 'status', label: t('participants.status'), render: (p) => <ParticipantStatus participant={p} now={now} /> },
        { key: 'connection', label: t('participants.connection'), render: (p) => <Presence participant={p} now={now} /> },
        { key: 'rounds', label: t('participants.roundsContributed'), numeric: true, testId: 'rounds-contributed', render: (p) => p.roundsContributed },
        {
          key: 'audit',
          label: t('participants.audit'),
          render: (p) => (
            <Link to={auditLink({ participant: p.name })} aria-label={t('participants.auditOf', { name: p.name })}>
              {t('participants.auditRecords')}
            </Link>
          ),
        },
        canEdit && {
          key: 'actions',
          label: t('common.actions'),
          hideLabel: true,
          // Pending ones are decided in the section above: one place for each decision.
          render: (p) => p.status !== 'pending' && <ParticipantActions participant={p} onDecided={onDecided} ask={ask} />,
        },
      ]}
    />
  );
}

function ParticipantStatus({ participant: p, now }: { participant: ParticipantView; now: number }) {
  const { t } = useTranslation();
  const decided = decidedText(t, p, now);
  return (
    <>
      <StatusBadge status={p.status} testId="participant-status" />
      {decided && (
        <span className="muted small decided" data-testid="decided" title={p.decidedAt === null ? formatTime(p.createdAt) : formatTime(p.decidedAt)}>
          {' '}
          {decided}
        </span>
      )}
    </>
  );
}

function Presence({ participant: p, now }: { participant: ParticipantView; now: number }) {
  const { t } = useTranslation();
  const seen = p.lastSeen === null ? t('participants.neverSeen') : t('participants.lastSeen', { ago: formatAgo(p.lastSeen, now) });
  return (
    <>
      <span className={`presence ${p.online ? 'online' : 'offline'}`} data-online={p.online}>
        <span className="dot" aria-hidden="true" />
        {p.online ? t('participants.online') : t('participants.offline')}
      </span>
      {!p.online && <span className="muted small"> · {seen}</span>}
    </>
  );
}

/** approve and reject a pending participant; revoke an approved one; approve a rejected one after all. */
function ParticipantActions({ participant: p, onDecided, ask }: { participant: ParticipantView } & Deciding) {
  const { t } = useTranslation();
  const { api, canEdit } = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  // A revoked participant stays revoked: nothing is left to decide.
  if (!canEdit || p.status === 'revoked') return null;

  const decide = async (action: ParticipantAction, reason?: string) => onDecided(await api.decide(p.name, action, reason));
  const approve = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await decide('approve');
    } catch (err) {
      setError(describeError(t, err));
    } finally {
      setBusy(false);
    }
  };
  const reject = () =>
    ask({
      title: t('participants.rejectTitle', { name: p.name }),
      message: <p>{t('participants.rejectText', { name: p.name, organisation: p.organisation })}</p>,
      confirmLabel: t('participants.actions.reject'),
      reason: t('participants.rejectReason'),
      run: (reason) => decide('reject', reason),
    });
  const revoke = () =>
    ask({
      title: t('participants.revokeTitle', { name: p.name }),
      message: <p>{t('participants.revokeText', { name: p.name, organisation: p.organisation })}</p>,
      confirmLabel: t('participants.actions.revoke'),
      reason: t('participants.revokeReason'),
      run: (reason) => decide('revoke', reason),
    });

  const button = (action: ParticipantAction, onClick: () => void, className = 'button small') => (
    <button type="button" className={className} disabled={busy} aria-label={t(`participants.actionNames.${action}`, { name: p.name })} onClick={onClick}>
      {t(`participants.actions.${action}`)}
    </button>
  );
  return (
    <div className="controls row-actions">
      {(p.status === 'pending' || p.status === 'rejected') && button('approve', () => void approve(), 'button small primary')}
      {p.status === 'pending' && button('reject', reject)}
      {p.status === 'approved' && button('revoke', revoke)}
      <p className="error" role="alert">
        {error}
      </p>
    </div>
  );
}

const INVITATION_FIELDS = { organisation: 'organisation', country: 'country', name: 'participantName', expiresInHours: 'expiresInHours' };
const EMPTY_INVITATION = { organisation: '', country: '', participantName: '', expiresInHours: '72' };

function Invitations({ invitations, now, ask }: { invitations: Resource<InvitationView[]>; now: number; ask: Ask }) {
  const { t } = useTranslation();
  const { api, canEdit } = useSession();
  const [created, setCreated] = useState<WithSecret<InvitationView>>();
  const list = invitations.data ? [...invitations.data].sort((a, b) => b.createdAt - a.createdAt) : undefined;

  const cancel = (invitation: InvitationView) =>
    ask({
      title: t('invitations.cancelTitle', { organisation: invitation.organisation }),
      message: <p>{t('invitations.cancelText')}</p>,
      confirmLabel: t('invitations.cancelConfirm'),
      cancelLabel: t('invitations.keep'),
      run: async () => {
        const cancelled = await api.cancelInvitation(invitation.id);
        invitations.setData((all) => all?.map((i) => (i.id === cancelled.id ? cancelled : i)));
      },
    });

  return (
    <section aria-labelledby="invitations-title">
      <h2 id="invitations-title">{t('invitations.title')}</h2>
      <p className="hint">{t('invitations.hint')}</p>
      {canEdit && (
        <InviteForm
          onCreated={(invitation) => {
            setCreated(invitation);
            // The list keeps the view only: the token stays in the panel that shows it.
            const { token: _token, ...view } = invitation;
            invitations.setData((all) => [...(all ?? []), view]);
          }}
        />
      )}
      {created && <NewInvitation invitation={created} onDone={() => setCreated(undefined)} />}
      <ErrorNote error={invitations.error} what={t('invitations.what')} />
      {list && list.length === 0 && <p className="empty">{t('invitations.empty')}</p>}
      {list && (
        <Table
          rows={list}
          rowKey={(i) => i.id}
          rowData={(i) => ({ invitation: i.id })}
          label={t('invitations.title')}
          testId="invitations-table"
          columns={[
            { key: 'organisation', label: t('participants.organisation'), rowHeader: true, render: (i) => i.organisation },
            { key: 'country', label: t('participants.country'), render: (i) => i.country || '–' },
            { key: 'name', label: t('invitations.participantName'), render: (i) => i.name ?? <span className="muted">{t('invitations.chosenBySite')}</span> },
            {
              key: 'status',
              label: t('participants.status'),
              render: (i) => (
                <>
                  <StatusBadge status={i.status} testId="invitation-status" />
                  {i.usedBy !== null && <span className="muted small"> {t('invitations.usedBy', { name: i.usedBy })}</span>}
                </>
              ),
            },
            {
              key: 'created',
              label: t('invitations.created'),
              title: (i) => formatTime(i.createdAt),
              render: (i) => (
                <>
                  {formatAgo(i.createdAt, now)} <span className="muted small">{t('invitations.createdBy', { actor: formatActor(t, i.createdBy) })}</span>
                </>
              ),
            },
            { key: 'expires', label: t('invitations.expires'), render: (i) => formatTime(i.expiresAt) },
            canEdit && {
              key: 'actions',
              label: t('common.actions'),
              hideLabel: true,
              render: (i) =>
                i.status === 'open' && (
                  <button type="button" className="button small" aria-label={t('invitations.cancelName', { organisation: i.organisation })} onClick={() => cancel(i)}>
                    {t('invitations.cancel')}
                  </button>
                ),
            },
          ]}
        />
      )}
    </section>
  );
}

function InviteForm({ onCreated }: { onCreated: (invitation: WithSecret<InvitationView>) => void }) {
  const { t } = useTranslation();
  const { api } = useSession();
  const [values, setValues] = useState(EMPTY_INVITATION);
  const [errors, setErrors] = useState<FormErrors>({});
  const [busy, setBusy] = useState(false);

  const set = (field: keyof typeof EMPTY_INVITATION, value: string) => {
    setValues((v) => ({ ...v, [field]: value }));
    setErrors((e) => without(e, field));
  };

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const hours = Number(values.expiresInHours);
    const found: FormErrors = {};
    if (!values.organisation.trim()) found.organisation = t('invitations.enterOrganisation');
    if (!values.expiresInHours.trim() || !Number.isFinite(hours) || hours <= 0) found.expiresInHours = t('invitations.enterHours');
    if (Object.keys(found).length) {
      setErrors(found);
      form.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
      return;
    }
    setBusy(true);
    try {
      const name = values.participantName.trim();
      onCreated(await api.invite({ organisation: values.organisation.trim(), country: values.country.trim(), ...(name ? { name } : {}), expiresInHours: hours }));
      setValues(EMPTY_INVITATION);
      setErrors({});
    } catch (err) {
      setErrors(refusedFields(t, err, INVITATION_FIELDS));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="panel-form" onSubmit={submit} noValidate aria-labelledby="invite-title">
      <fieldset>
        <legend id="invite-title">{t('invitations.invite')}</legend>
        <div className="grid settings">
          <Field name="organisation" label={t('participants.organisation')} error={errors.organisation}>
            {(control) => <input {...control} type="text" value={values.organisation} onChange={(e) => set('organisation', e.target.value)} />}
          </Field>
          <Field name="country" label={t('participants.country')} hint={t('invitations.countryHint')} error={errors.country}>
            {(control) => <input {...control} type="text" value={values.country} onChange={(e) => set('country', e.target.value)} />}
          </Field>
          <Field name="participantName" label={t('invitations.participantName')} hint={t('invitations.participantNameHint')} error={errors.participantName}>
            {(control) => (
              <input
                {...control}
                type="text"
                spellCheck={false}
                autoCapitalize="none"
                value={values.participantName}
                onChange={(e) => set('participantName', e.target.value)}
              />
            )}
          </Field>
          <Field name="expiresInHours" label={t('invitations.expiresInHours')} error={errors.expiresInHours}>
            {(control) => (
              <input {...control} type="text" inputMode="decimal" value={values.expiresInHours} onChange={(e) => set('expiresInHours', e.target.value)} />
            )}
          </Field>
        </div>
        <FormActions error={errors.form} busy={busy} label={t('invitations.submit')} busyLabel={t('invitations.busy')} />
      </fieldset>
    </form>
  );
}

/** The token of an invitation just made, and the command the site runs with it, filled in. */
function NewInvitation({ invitation, onDone }: { invitation: WithSecret<InvitationView>; onDone: () => void }) {
  const { t } = useTranslation();
  // The coordinator serves this page: its address is the one the site enrolls with.
  const command = `fl-agent enroll --coordinator ${window.location.origin} --token ${invitation.token} --key key.json --name ${invitation.name ?? 'NAME'}`;
  return (
    <OneTimeSecret
      title={t('invitations.newTitle', { organisation: invitation.organisation })}
      secret={invitation.token}
      secretLabel={t('secret.token')}
      testId="invitation-token"
      onDone={onDone}
    >
      <p>{t('invitations.send', { until: formatTime(invitation.expiresAt) })}</p>
      <pre className="command">
        <code data-testid="enroll-command">{command}</code>
      </pre>
      <CopyButton text={command} label={t('invitations.copyCommand')} />
      <p className="hint">
        {invitation.name === null && `${t('invitations.nameIsChosen')} `}
        <Trans i18nKey="invitations.keygen" components={{ command: <code /> }} values={{ command: 'fl-agent keygen --out key.json' }} />
      </p>
    </OneTimeSecret>
  );
}
