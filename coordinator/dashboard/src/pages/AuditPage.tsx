/**
 * The audit log, newest record first, a page at a time: what each record says
 * in a few words, who did it and the start of its hash. "Verify" has the
 * coordinator check the whole chain, the signatures and the stored models, and
 * shows what it checked; a failure names the record or file at fault.
 */
import type { TFunction } from 'i18next';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { Api } from '../api';
import { describeError } from '../messages';
import { ErrorNote } from '../components/ErrorNote';
import { PageHeading } from '../components/PageHeading';
import { Table } from '../components/Table';
import { formatCount, formatTime, shortId } from '../format';
import { useLiveEvent } from '../live';
import { useResource } from '../resource';
import { useSession } from '../session';
import type { AuditRecordView, AuditVerification } from '../types';

const PAGE = 50;

interface LoadedLog {
  /** newest first */
  records: AuditRecordView[];
  head: { seq: number; hash: string } | null;
}

/**
 * The API pages forwards from a record number and tells the head with every
 * page: one small request finds the head, a second loads the page ending there.
 */
async function newestPage(api: Api): Promise<LoadedLog> {
  const { head } = await api.audit(0, 1);
  if (!head) return { records: [], head: null };
  const after = Math.max(0, head.seq - PAGE);
  const { records } = await api.audit(after, head.seq - after);
  return { records: [...records].reverse(), head };
}

export function AuditPage() {
  const { t } = useTranslation();
  const { api } = useSession();
  const log = useResource('audit', newestPage);
  const jobs = useResource('jobs', (api) => api.jobs());
  const [newer, setNewer] = useState(false);
  const [older, setOlder] = useState<{ busy?: boolean; error?: string }>({});
  const [verification, setVerification] = useState<VerifyState>({});
  const jobNames = new Map(jobs.data?.map((j) => [j.id, j.spec.name]));

  // New records are offered rather than moving the rows being read.
  useLiveEvent('audit', () => setNewer(true));

  const oldest = log.data?.records.at(-1)?.seq;
  const loadOlder = async () => {
    if (oldest === undefined || oldest <= 1) return;
    setOlder({ busy: true });
    try {
      const after = Math.max(0, oldest - 1 - PAGE);
      const { records } = await api.audit(after, oldest - 1 - after);
      log.setData((loaded) => loaded && { ...loaded, records: [...loaded.records, ...[...records].reverse()] });
      setOlder({});
    } catch (err) {
      setOlder({ error: describeError(t, err) });
    }
  };
  const verify = async () => {
    setVerification({ busy: true });
    try {
      setVerification({ result: await api.verifyAudit() });
    } catch (err) {
      setVerification({ error: describeError(t, err) });
    }
  };

  return (
    <>
      <PageHeading title={t('audit.title')}>
        <button type="button" className="button primary" disabled={verification.busy} onClick={() => void verify()}>
          {verification.busy ? t('audit.verifying') : t('audit.verify')}
        </button>
      </PageHeading>
      <p className="hint">{t('audit.verifyHint')}</p>
      <VerificationResult state={verification} />
      <ErrorNote error={log.error} what={t('audit.what')} />
      {log.data && (
        <div className="log-status">
          <p className="muted" role="status">
            {log.data.head === null
              ? t('audit.empty')
              : t('audit.range', { from: oldest, to: log.data.records[0].seq, total: log.data.head.seq })}
          </p>
          {newer && (
            <button
              type="button"
              className="button small"
              onClick={() => {
                setNewer(false);
                log.reload();
              }}
            >
              {t('audit.newest')}
            </button>
          )}
        </div>
      )}
      {log.data && (
        <Table
          rows={log.data.records}
          rowKey={(r) => r.seq}
          rowData={(r) => ({ seq: r.seq, kind: r.kind })}
          label={t('audit.records')}
          testId="audit-table"
          className="audit"
          columns={[
            { key: 'seq', label: t('audit.seq'), rowHeader: true, numeric: true, render: (r) => r.seq },
            { key: 'time', label: t('audit.time'), className: 'nowrap', render: (r) => formatTime(r.at) },
            { key: 'kind', label: t('audit.kind'), render: (r) => <span className="kind">{r.kind}</span> },
            { key: 'actor', label: t('audit.actor'), className: 'actor', render: (r) => r.actor },
            { key: 'what', label: t('audit.about'), className: 'summary', title: (r) => JSON.stringify(r.data, null, 2), render: (r) => summarise(t, r, jobNames) },
            { key: 'hash', label: t('audit.hash'), render: (r) => <code title={r.hash}>{r.hash.slice(0, 12)}…</code> },
          ]}
        />
      )}
      {oldest !== undefined && oldest > 1 && (
        <div className="form-actions more">
          <button type="button" className="button" disabled={older.busy} onClick={() => void loadOlder()}>
            {older.busy ? t('common.loading') : t('audit.older')}
          </button>
        </div>
      )}
      {older.error && (
        <p className="error" role="alert">
          {t('audit.olderFailed', { reason: older.error })}
        </p>
      )}
    </>
  );
}

interface VerifyState {
  busy?: boolean;
  result?: AuditVerification;
  error?: string;
}

function VerificationResult({ state }: { state: VerifyState }) {
  const { t } = useTranslation();
  const { result, error } = state;
  if (error) {
    return (
      <p className="notice error" role="alert">
        {t('audit.verifyFailed', { reason: error })}
      </p>
    );
  }
  if (!result) return null;
  return (
    <section className={`verification ${result.ok ? 'verified' : 'failed'}`} aria-labelledby="verification-title" data-testid="audit-verification">
      <h2 id="verification-title">{result.ok ? t('audit.verified') : t('audit.notVerified')}</h2>
      {result.failure && (
        <p className="notice error" role="alert" data-testid="audit-failure">
          <strong>{result.failure.where}</strong>: {result.failure.reason}
        </p>
      )}
      <ol className="verify-lines">
        {result.lines.map((line, i) => (
          <li key={i}>{line}</li>
        ))}
      </ol>
    </section>
  );
}

const text = (value: unknown): string => (typeof value === 'string' ? value : value === undefined || value === null ? '' : JSON.stringify(value));

/** A record's data in a few words; the whole is in the cell's tooltip. */
function summarise(t: TFunction, record: AuditRecordView, jobNames: Map<string, string>): string {
  const d = record.data;
  const sha = (value: unknown) => t('audit.summary.sha', { sha: `${text(value).slice(0, 8)}…` });
  const job = (id: unknown) => {
    const name = jobNames.get(text(id));
    return name === undefined ? t('audit.summary.jobId', { id: shortId(text(id)) }) : t('audit.summary.jobNamed', { name });
  };
  const values = { ...Object.fromEntries(Object.entries(d).map(([k, v]) => [k, text(v)])), country: d.country ? t('audit.summary.country', { country: text(d.country) }) : '' };
  const reason = d.reason ? t('audit.summary.reason', { reason: text(d.reason) }) : '';
  switch (record.kind) {
    case 'coordinator.key':
      return t('audit.summary.coordinatorKey', values);
    case 'user.added':
      return t('audit.summary.userAdded', { ...values, role: t(`roles.${text(d.role)}`, { defaultValue: text(d.role) }) });
    case 'user.removed':
    case 'participant.approved':
      return text(d.name);
    case 'token.created':
      return t('audit.summary.tokenCreated', values);
    case 'token.revoked':
      return t('audit.summary.tokenRevoked', { ...values, id: shortId(text(d.id)) });
    case 'invitation.created':
      return t(d.name ? 'audit.summary.invitationNamed' : 'audit.summary.invitation', { ...values, until: formatTime(Number(d.expiresAt)) });
    case 'invitation.cancelled':
      return t('audit.summary.invitationCancelled', { id: shortId(text(d.id)) });
    case 'participant.enrolled':
    case 'participant.registered':
      return t('audit.summary.participant', values);
    case 'participant.rejected':
    case 'participant.revoked':
      return `${text(d.name)}${reason}`;
    case 'job.created': {
      const spec = (d.spec ?? {}) as Record<string, unknown>;
      const model = text(spec.model);
      return t('audit.summary.jobCreated', {
        name: text(spec.name),
        model: t(`modelShort.${model}`, { defaultValue: model }),
        target: text(spec.target),
        count: Number(spec.rounds),
      });
    }
    case 'job.control':
      return t('audit.summary.jobControl', { action: t(`job.actions.${text(d.action)}`, { defaultValue: text(d.action) }), job: job(d.job) });
    case 'job.resumed':
      return t('audit.summary.jobResumed', { job: job(d.job), round: text(d.round) });
    case 'model.initial':
      return t('audit.summary.modelInitial', { job: job(d.job), sha: sha(d.sha256) });
    case 'update.accepted':
      return t(d.retained ? 'audit.summary.update' : 'audit.summary.updateNotRetained', {
        participant: text(d.participant),
        round: text(d.round),
        job: job(d.job),
        count: Number(d.numSamples),
        samples: formatCount(Number(d.numSamples)),
        sha: sha(d.sha256),
      });
    case 'update.excluded':
      return t('audit.summary.updateExcluded', { participant: text(d.participant), round: text(d.round), job: job(d.job), code: text(d.code), reason });
    case 'statistics.excluded':
      return t('audit.summary.statisticsExcluded', { participant: text(d.participant), job: job(d.job), code: text(d.code), reason });
    case 'updates.pruned':
      return t('audit.summary.pruned', { job: job(d.job), round: text(d.throughRound) });
    case 'model.committed': {
      const contributors = Array.isArray(d.contributors) ? d.contributors.length : 0;
      return t('audit.summary.committed', { round: text(d.round), job: job(d.job), count: contributors, sha: sha(d.sha256) });
    }
    default:
      return JSON.stringify(d);
  }
}
