/**
 * The audit log, newest record first, a page at a time: what each record says
 * in a few words, who did it and the start of its hash. The records shown may
 * be filtered by kind, job and participant, from the page's address, so that a
 * job's or a participant's page links to its records. "Verify" has the
 * coordinator check the whole chain, the signatures and the stored models,
 * whatever the filters, and shows what it checked; a failure names the record
 * or file at fault.
 */
import { AUDIT_KINDS } from '@fl/shared';
import type { TFunction } from 'i18next';
import { useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { Api } from '../api';
import { auditLink, filterOf, filterQuery, isFiltered, type AuditFilter } from '../audit';
import { describeError } from '../messages';
import { ErrorNote } from '../components/ErrorNote';
import { PageHeading } from '../components/PageHeading';
import { Table } from '../components/Table';
import { formatCount, formatTime, shortId } from '../format';
import { useLiveEvent } from '../live';
import { useResource } from '../resource';
import { Link, navigate, useSearch } from '../router';
import { useSession } from '../session';
import type { AuditRecordView, AuditVerification } from '../types';

const PAGE = 50;

interface LoadedLog {
  /** newest first */
  records: AuditRecordView[];
  head: { seq: number; hash: string } | null;
  /** whether older records match */
  more: boolean;
}

/** The head first (every page tells it, filtered or not), then the page of matching records that ends there. */
async function newestPage(api: Api, filter: AuditFilter): Promise<LoadedLog> {
  const { head } = await api.audit({ limit: 1 });
  if (!head) return { records: [], head: null, more: false };
  const { records, more } = await api.audit({ before: head.seq + 1, limit: PAGE }, filter);
  return { records: [...records].reverse(), head, more };
}

export function AuditPage() {
  const { t } = useTranslation();
  const { api } = useSession();
  const search = useSearch();
  const filter = useMemo(() => filterOf(search), [search]);
  const jobs = useResource('jobs', (api) => api.jobs());
  const [verification, setVerification] = useState<VerifyState>({});
  const jobNames = new Map(jobs.data?.map((j) => [j.id, j.spec.name]));

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
      <AuditFilters filter={filter} jobNames={jobNames} />
      {/* Another filter is another list: its pages, and whether newer records came, start afresh. */}
      <AuditRecords key={filterQuery(filter).toString()} filter={filter} jobNames={jobNames} />
    </>
  );
}

function AuditRecords({ filter, jobNames }: { filter: AuditFilter; jobNames: Map<string, string> }) {
  const { t } = useTranslation();
  const { api } = useSession();
  const log = useResource(`audit?${filterQuery(filter)}`, (api) => newestPage(api, filter));
  const [newer, setNewer] = useState(false);
  const [older, setOlder] = useState<{ busy?: boolean; error?: string }>({});
  const filtered = isFiltered(filter);

  // New records are offered rather than moving the rows being read; only those of a kind shown.
  useLiveEvent('audit', (event) => {
    if (!filter.kind || event.kinds.some((kind) => filter.kind!.includes(kind))) setNewer(true);
  });

  const oldest = log.data?.records.at(-1)?.seq;
  const loadOlder = async () => {
    if (oldest === undefined) return;
    setOlder({ busy: true });
    try {
      const { records, more } = await api.audit({ before: oldest, limit: PAGE }, filter);
      log.setData((loaded) => loaded && { ...loaded, records: [...loaded.records, ...[...records].reverse()], more });
      setOlder({});
    } catch (err) {
      setOlder({ error: describeError(t, err) });
    }
  };

  return (
    <>
      <ErrorNote error={log.error} what={t('audit.what')} />
      {log.data && (
        <div className="log-status">
          <p className="muted" role="status">
            {log.data.head === null
              ? t('audit.empty')
              : oldest === undefined
                ? t('audit.noMatch')
                : t(filtered ? 'audit.rangeFiltered' : 'audit.range', { from: oldest, to: log.data.records[0].seq, total: log.data.head.seq })}
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
            { key: 'kind', label: t('audit.kind'), render: (r) => <span className="kind" title={r.kind}>{kindName(t, r.kind)}</span> },
            { key: 'actor', label: t('audit.actor'), className: 'actor', render: (r) => r.actor },
            { key: 'what', label: t('audit.about'), className: 'summary', title: (r) => JSON.stringify(r.data, null, 2), render: (r) => summarise(t, r, jobNames) },
            { key: 'hash', label: t('audit.hash'), render: (r) => <code title={r.hash}>{r.hash.slice(0, 12)}…</code> },
          ]}
        />
      )}
      {log.data?.more && (
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

/**
 * The filters, in the page's address: choosing one opens that view, as a link
 * to it would. The kinds are the API's own; jobs by name and participants as
 * the coordinator lists them, with one the address names that is not listed.
 */
function AuditFilters({ filter, jobNames }: { filter: AuditFilter; jobNames: Map<string, string> }) {
  const { t } = useTranslation();
  const participants = useResource('participants', (api) => api.participants());
  const show = (change: AuditFilter) => navigate(auditLink({ ...filter, ...change }));
  // Several kinds come only from an address: they are one choice, as written.
  const kinds = filter.kind && filter.kind.length > 1 ? [filter.kind.join(','), ...AUDIT_KINDS] : AUDIT_KINDS;
  // Named with the start of their id: two jobs may have one name.
  const jobs = [...jobNames].map(([id, name]) => ({ id, name: `${name} (${shortId(id)})` }));
  if (filter.job && !jobNames.has(filter.job)) jobs.push({ id: filter.job, name: shortId(filter.job) });
  const names = participants.data?.map((p) => p.name) ?? [];
  if (filter.participant && !names.includes(filter.participant)) names.push(filter.participant);

  return (
    <form className="audit-filters" role="search" aria-label={t('audit.filters')} onSubmit={(e) => e.preventDefault()}>
      <FilterSelect
        id="audit-kind"
        label={t('audit.kind')}
        all={t('audit.allKinds')}
        value={filter.kind?.join(',')}
        options={kinds.map((kind) => ({ value: kind, label: kind.split(',').map((k) => kindName(t, k)).join(', ') }))}
        onChange={(kind) => show({ kind: kind?.split(',') })}
      />
      <FilterSelect
        id="audit-job"
        label={t('audit.job')}
        all={t('audit.allJobs')}
        value={filter.job}
        options={jobs.map(({ id, name }) => ({ value: id, label: name }))}
        onChange={(job) => show({ job })}
      />
      <FilterSelect
        id="audit-participant"
        label={t('audit.participant')}
        all={t('audit.allParticipants')}
        value={filter.participant}
        options={names.map((name) => ({ value: name, label: name }))}
        onChange={(participant) => show({ participant })}
      />
      {isFiltered(filter) && (
        <p className="clear">
          <Link to="/audit">{t('audit.showAll')}</Link>
        </p>
      )}
    </form>
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

/** A kind in the user's language; the API's name of it is the cell's tooltip and the filter's value. */
const kindName = (t: TFunction, kind: string): string => t(`auditKinds.${kind}`, { defaultValue: kind });

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

/** One filter: its options, and the first, "all", which leaves it unset. */
function FilterSelect(props: {
  id: string;
  label: string;
  all: string;
  value: string | undefined;
  options: { value: string; label: string }[];
  onChange: (value: string | undefined) => void;
}) {
  const { id, label, all, value, options, onChange } = props;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value ?? ''} onChange={(e) => onChange(e.target.value || undefined)}>
        <option value="">{all}</option>
        {options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
    </div>
  );
}
