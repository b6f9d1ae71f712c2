/**
 * One job: its status and controls, the charts and the round table, updated
 * live as rounds close, the download of the global model and a link to the
 * job's audit records. Viewers see the
 * same page without the controls; the server refuses them the actions anyway.
 */
import { formatStrategy, strategyOf } from '@fl/shared';
import { useState } from 'react';
import { Trans, useTranslation } from 'react-i18next';
import type { JobAction } from '../api';
import { auditLink } from '../audit';
import { describeError } from '../messages';
import { ErrorNote } from '../components/ErrorNote';
import { PageHeading } from '../components/PageHeading';
import { RoundCharts } from '../components/RoundCharts';
import { describeFailure, RoundTable } from '../components/RoundTable';
import { StatusBadge } from '../components/StatusBadge';
import { formatNumber, formatTime } from '../format';
import { applyJobEvent, canPause, canResume, canStop, mergeRounds, upsertRound } from '../jobs';
import { useLiveEvent } from '../live';
import { useResource } from '../resource';
import { Link } from '../router';
import { useSession } from '../session';
import type { JobRecord, RoundRecord } from '../types';
import type { TFunction } from 'i18next';

export function JobPage({ id }: { id: string }) {
  const { t } = useTranslation();
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
        <PageHeading title={t('job.title')} />
        <ErrorNote error={job.error} what={t('job.what')} />
        <p>
          <Link to="/jobs">{t('common.backToJobs')}</Link>
        </p>
      </>
    );
  }
  if (!job.data) return <PageHeading title={t('job.title')} />;
  const { spec } = job.data;

  return (
    <>
      <PageHeading title={spec.name}>
        <JobControls job={job.data} onChange={(changed) => job.setData(changed)} />
      </PageHeading>
      <dl className="facts">
        <div>
          <dt>{t('job.status')}</dt>
          <dd>
            <StatusBadge status={job.data.status} />
          </dd>
        </div>
        <div>
          <dt>{t('job.round')}</dt>
          <dd className="tabular" data-testid="job-round">
            {t('job.roundOf', { round: job.data.round, rounds: spec.rounds })}
          </dd>
        </div>
        <div>
          <dt>{t('job.model')}</dt>
          <dd>
            {spec.model === 'kmeans' ? (
              t('job.clustersOf', { count: spec.features.length, model: t('modelShort.kmeans'), k: spec.k })
            ) : (
              <Trans
                i18nKey="job.modelOf"
                count={spec.features.length}
                values={{ model: t(`modelShort.${spec.model}`), target: spec.target }}
                components={{ target: <code /> }}
              />
            )}
          </dd>
        </div>
        <div>
          <dt>{t('job.strategy')}</dt>
          <dd>
            {/* A job stored before jobs named a strategy runs as FedAvg; a kmeans job's model decides its own. */}
            <code data-testid="job-strategy">{formatStrategy(strategyOf(spec))}</code>
          </dd>
        </div>
        <div>
          <dt>{t('job.privacy')}</dt>
          <dd data-testid="job-privacy">{privacyOf(t, job.data, rounds.data ?? [])}</dd>
        </div>
        <div>
          <dt>{t('job.created')}</dt>
          <dd>{formatTime(job.data.createdAt)}</dd>
        </div>
        <div>
          <dt>{t('job.id')}</dt>
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
      {job.data.excluded.length > 0 && (
        <div className="notice" data-testid="job-excluded">
          <p>{t('job.excluded')}</p>
          <ul>
            {job.data.excluded.map((f) => (
              <li key={f.participant}>{describeFailure(f)}</li>
            ))}
          </ul>
        </div>
      )}
      <ModelDownload job={job.data} />
      <p>
        <Link to={auditLink({ job: id })}>{t('job.auditRecords')}</Link>
      </p>
      {/* What the consortium agreed to run, every default filled in: as the API serves it and the audit log records it. */}
      <details className="job-spec">
        <summary>{t('job.spec')}</summary>
        <pre data-testid="job-spec">{JSON.stringify(spec, null, 2)}</pre>
      </details>
      <ErrorNote error={rounds.error} what={t('job.roundsWhat')} />
      <section aria-labelledby="progress-title">
        <h2 id="progress-title">{t('job.progress')}</h2>
        <RoundCharts rounds={rounds.data ?? []} totalRounds={spec.rounds} />
      </section>
      <section className="rounds-section" aria-labelledby="rounds-title">
        <RoundTable rounds={rounds.data ?? []} />
      </section>
    </>
  );
}

/** Who sees what of the updates, and the ε spent so far: the newest round's, which the live feed brings before the job's own. */
function privacyOf(t: TFunction, job: JobRecord, rounds: RoundRecord[]): string {
  const { dp, secureAggregation } = job.spec;
  // Under central DP the coordinator still sees each update: its noise protects the model, not the sites from the coordinator.
  const parts = [secureAggregation ? t('job.privacySecure') : t('job.privacyNone')];
  if (dp) {
    const spent = Math.max(job.privacy?.epsilon ?? 0, ...rounds.map((r) => r.privacy?.epsilon ?? 0));
    const values = { epsilon: formatNumber(spent, 3), delta: dp.delta, budget: dp.epsilonBudget };
    parts.push(dp.epsilonBudget === undefined ? t('job.privacyDp', values) : t('job.privacyDpBudget', values));
  }
  return parts.join('; ');
}

const ACTIONS: { action: JobAction; allowed: (job: JobRecord) => boolean; confirm?: boolean }[] = [
  { action: 'pause', allowed: canPause },
  { action: 'resume', allowed: canResume },
  { action: 'stop', allowed: canStop, confirm: true },
];

function JobControls({ job, onChange }: { job: JobRecord; onChange: (job: JobRecord) => void }) {
  const { t } = useTranslation();
  const { api, canEdit } = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  if (!canEdit) return null;

  const run = async (action: JobAction, confirm?: boolean) => {
    if (confirm && !window.confirm(t(`job.confirm.${action}`))) return;
    setBusy(true);
    setError(undefined);
    try {
      onChange(await api.control(job.id, action));
    } catch (err) {
      setError(describeError(t, err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="controls" role="group" aria-label={t('job.controls')}>
      {ACTIONS.map(({ action, allowed, confirm }) => (
        <button key={action} type="button" className="button" disabled={busy || !allowed(job)} onClick={() => void run(action, confirm)}>
          {t(`job.actions.${action}`)}
        </button>
      ))}
      <p className="error" role="alert">
        {error}
      </p>
    </div>
  );
}

function ModelDownload({ job }: { job: JobRecord }) {
  const { t } = useTranslation();
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
      setState({ message: t('job.downloaded', { round: model.round, sha: `${model.sha256.slice(0, 16)}…` }) });
    } catch (err) {
      setState({ error: describeError(t, err) });
    }
  };

  return (
    <div className="download">
      <button type="button" className="button" disabled={!available || state.busy} onClick={() => void download()}>
        {t('job.download')}
      </button>
      <span className="hint" role="status">
        {state.error ? <span className="error">{state.error}</span> : (state.message ?? (available ? t('job.downloadHint') : t('job.downloadLater')))}
      </span>
    </div>
  );
}
