/**
 * One job: its status and controls, the charts and the round table, updated
 * live as rounds close, and the download of the global model. Viewers see the
 * same page without the controls; the server refuses them the actions anyway.
 */
import { useState } from 'react';
import { ApiError, type JobAction } from '../api';
import { ErrorNote } from '../components/ErrorNote';
import { PageHeading } from '../components/PageHeading';
import { RoundCharts } from '../components/RoundCharts';
import { RoundTable } from '../components/RoundTable';
import { StatusBadge } from '../components/StatusBadge';
import { formatTime } from '../format';
import { applyJobEvent, canPause, canResume, canStop, mergeRounds, upsertRound } from '../jobs';
import { useLiveEvent } from '../live';
import { useResource } from '../resource';
import { Link } from '../router';
import { useSession } from '../session';
import type { JobRecord } from '../types';

export function JobPage({ id }: { id: string }) {
  const job = useResource(`job:${id}`, (api) => api.job(id));
  const rounds = useResource(`rounds:${id}`, (api) => api.rounds(id), mergeRounds);

  useLiveEvent('job', (event) => {
    if (event.job !== id) return;
    job.setData((j) => j && applyJobEvent(j, event));
    if (event.type === 'status') job.reload();
    else rounds.setData((list) => upsertRound(list ?? [], event.round));
  });

  if (job.error) {
    return (
      <>
        <PageHeading title="Job" />
        <ErrorNote error={job.error} what="the job" />
        <p>
          <Link to="/jobs">Back to the jobs</Link>
        </p>
      </>
    );
  }
  if (!job.data) return <PageHeading title="Job" />;
  const { spec } = job.data;

  return (
    <>
      <PageHeading title={spec.name}>
        <JobControls job={job.data} onChange={(changed) => job.setData(changed)} />
      </PageHeading>
      <dl className="facts">
        <div>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={job.data.status} />
          </dd>
        </div>
        <div>
          <dt>Round</dt>
          <dd className="tabular" data-testid="job-round">
            {job.data.round} of {spec.rounds}
          </dd>
        </div>
        <div>
          <dt>Model</dt>
          <dd>
            {spec.model} of <code>{spec.target}</code>, {spec.features.length} features
          </dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>{formatTime(job.data.createdAt)}</dd>
        </div>
        <div>
          <dt>Job id</dt>
          <dd>
            <code>{job.data.id}</code>
          </dd>
        </div>
      </dl>
      {job.data.error && (
        <p className="notice error" role="alert">
          {job.data.error}
        </p>
      )}
      <ModelDownload job={job.data} />
      <ErrorNote error={rounds.error} what="the rounds" />
      <section aria-labelledby="progress-title">
        <h2 id="progress-title">Training progress</h2>
        <RoundCharts rounds={rounds.data ?? []} totalRounds={spec.rounds} />
      </section>
      <section className="rounds-section" aria-labelledby="rounds-title">
        <RoundTable rounds={rounds.data ?? []} />
      </section>
    </>
  );
}

const ACTIONS: { action: JobAction; label: string; allowed: (job: JobRecord) => boolean; confirm?: string }[] = [
  { action: 'pause', label: 'Pause', allowed: canPause },
  { action: 'resume', label: 'Resume', allowed: canResume },
  { action: 'stop', label: 'Stop', allowed: canStop, confirm: 'Stop this job for good? A stopped job cannot be resumed.' },
];

function JobControls({ job, onChange }: { job: JobRecord; onChange: (job: JobRecord) => void }) {
  const { api, canEdit } = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  if (!canEdit) return null;

  const run = async (action: JobAction, confirmText?: string) => {
    if (confirmText && !window.confirm(confirmText)) return;
    setBusy(true);
    setError(undefined);
    try {
      onChange(await api.control(job.id, action));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="controls" role="group" aria-label="Job controls">
      {ACTIONS.map(({ action, label, allowed, confirm }) => (
        <button key={action} type="button" className="button" disabled={busy || !allowed(job)} onClick={() => void run(action, confirm)}>
          {label}
        </button>
      ))}
      <p className="error" role="alert">
        {error}
      </p>
    </div>
  );
}

function ModelDownload({ job }: { job: JobRecord }) {
  const { api } = useSession();
  const [state, setState] = useState<{ busy?: boolean; message?: string; error?: string }>({});
  const available = job.preprocessing !== null;

  const download = async () => {
    setState({ busy: true });
    try {
      const model = await api.model(job.id);
      // The API needs the Bearer token, so the file comes through fetch and a blob, not a plain link.
      const url = URL.createObjectURL(model.blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = `${job.spec.name.replace(/[^A-Za-z0-9._-]+/g, '-')}-round-${model.round}.json`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      setState({ message: `Model of round ${model.round}, SHA-256 ${model.sha256.slice(0, 16)}…` });
    } catch (err) {
      setState({ error: err instanceof ApiError ? err.message : String(err) });
    }
  };

  return (
    <div className="download">
      <button type="button" className="button" disabled={!available || state.busy} onClick={() => void download()}>
        Download the global model
      </button>
      <span className="hint" role="status">
        {state.error ? <span className="error">{state.error}</span> : (state.message ?? (available ? 'JSON: weights, shape and preprocessing' : 'available once training starts'))}
      </span>
    </div>
  );
}
