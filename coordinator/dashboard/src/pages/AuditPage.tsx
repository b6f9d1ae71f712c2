/**
 * The audit log, newest record first, a page at a time: what each record says
 * in a few words, who did it and the start of its hash. "Verify" has the
 * coordinator check the whole chain, the signatures and the stored models, and
 * shows what it checked; a failure names the record or file at fault.
 */
import { useState } from 'react';
import { ApiError, type Api } from '../api';
import { ErrorNote } from '../components/ErrorNote';
import { PageHeading } from '../components/PageHeading';
import { Table } from '../components/Table';
import { formatTime, shortId } from '../format';
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
      setOlder({ error: err instanceof ApiError ? err.message : String(err) });
    }
  };
  const verify = async () => {
    setVerification({ busy: true });
    try {
      setVerification({ result: await api.verifyAudit() });
    } catch (err) {
      setVerification({ error: err instanceof ApiError ? err.message : String(err) });
    }
  };

  return (
    <>
      <PageHeading title="Audit log">
        <button type="button" className="button primary" disabled={verification.busy} onClick={() => void verify()}>
          {verification.busy ? 'Verifying…' : 'Verify'}
        </button>
      </PageHeading>
      <p className="hint">
        Verify checks every record's hash chain and signature, and recomputes each global model from the updates kept; on a large log it takes a
        while.
      </p>
      <VerificationResult state={verification} />
      <ErrorNote error={log.error} what="the audit log" />
      {log.data && (
        <div className="log-status">
          <p className="muted" role="status">
            {log.data.head === null
              ? 'The log is empty.'
              : `Records ${oldest} to ${log.data.records[0].seq} of ${log.data.head.seq}, newest first.`}
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
              Show the newest records
            </button>
          )}
        </div>
      )}
      {log.data && (
        <Table
          rows={log.data.records}
          rowKey={(r) => r.seq}
          rowData={(r) => ({ seq: r.seq, kind: r.kind })}
          label="Audit records"
          testId="audit-table"
          className="audit"
          columns={[
            { key: 'seq', label: 'Seq', rowHeader: true, numeric: true, render: (r) => r.seq },
            { key: 'time', label: 'Time', className: 'nowrap', render: (r) => formatTime(r.at) },
            { key: 'kind', label: 'Kind', render: (r) => <span className="kind">{r.kind}</span> },
            { key: 'actor', label: 'Actor', className: 'actor', render: (r) => r.actor },
            { key: 'what', label: 'What', className: 'summary', title: (r) => JSON.stringify(r.data, null, 2), render: (r) => summarise(r, jobNames) },
            { key: 'hash', label: 'Hash', render: (r) => <code title={r.hash}>{r.hash.slice(0, 12)}…</code> },
          ]}
        />
      )}
      {oldest !== undefined && oldest > 1 && (
        <div className="form-actions more">
          <button type="button" className="button" disabled={older.busy} onClick={() => void loadOlder()}>
            {older.busy ? 'Loading…' : 'Load older records'}
          </button>
        </div>
      )}
      {older.error && (
        <p className="error" role="alert">
          Could not load older records: {older.error}
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
  const { result, error } = state;
  if (error) {
    return (
      <p className="notice error" role="alert">
        Could not verify the log: {error}
      </p>
    );
  }
  if (!result) return null;
  return (
    <section className={`verification ${result.ok ? 'verified' : 'failed'}`} aria-labelledby="verification-title" data-testid="audit-verification">
      <h2 id="verification-title">{result.ok ? 'The log verifies' : 'The log does not verify'}</h2>
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
const sha = (value: unknown) => `sha256 ${text(value).slice(0, 8)}…`;

/** A record's data in a few words; the whole is in the cell's tooltip. */
function summarise(record: AuditRecordView, jobNames: Map<string, string>): string {
  const d = record.data;
  const job = (id: unknown) => {
    const name = jobNames.get(text(id));
    return name === undefined ? `job ${shortId(text(id))}` : `“${name}”`;
  };
  const country = d.country ? ` (${text(d.country)})` : '';
  const reason = d.reason ? `: ${text(d.reason)}` : '';
  switch (record.kind) {
    case 'coordinator.key':
      return `coordinator key ${text(d.fingerprint)}`;
    case 'user.added':
      return `${text(d.name)}, ${text(d.role)}`;
    case 'user.removed':
    case 'participant.approved':
      return text(d.name);
    case 'token.created':
      return `“${text(d.label)}” for ${text(d.user)}`;
    case 'token.revoked':
      return `token ${shortId(text(d.id))} of ${text(d.user)}`;
    case 'invitation.created':
      return `${text(d.organisation)}${country}${d.name ? `, as ${text(d.name)}` : ''}, until ${formatTime(Number(d.expiresAt))}`;
    case 'invitation.cancelled':
      return `invitation ${shortId(text(d.id))}`;
    case 'participant.enrolled':
    case 'participant.registered':
      return `${text(d.name)} of ${text(d.organisation)}${country}`;
    case 'participant.rejected':
    case 'participant.revoked':
      return `${text(d.name)}${reason}`;
    case 'job.created': {
      const spec = (d.spec ?? {}) as Record<string, unknown>;
      return `“${text(spec.name)}”, ${text(spec.model)} of ${text(spec.target)}, ${text(spec.rounds)} rounds`;
    }
    case 'job.control':
      return `${text(d.action)} ${job(d.job)}`;
    case 'model.initial':
      return `initial model of ${job(d.job)}, ${sha(d.sha256)}`;
    case 'update.accepted':
      return `${text(d.participant)}, round ${text(d.round)} of ${job(d.job)}, ${text(d.numSamples)} samples, ${sha(d.sha256)}${d.retained ? '' : ', not retained'}`;
    case 'updates.pruned':
      return `updates of ${job(d.job)} through round ${text(d.throughRound)} deleted`;
    case 'model.committed': {
      const contributors = Array.isArray(d.contributors) ? d.contributors.length : 0;
      return `round ${text(d.round)} of ${job(d.job)}, ${contributors} contributor${contributors === 1 ? '' : 's'}, ${sha(d.sha256)}`;
    }
    default:
      return JSON.stringify(d);
  }
}
