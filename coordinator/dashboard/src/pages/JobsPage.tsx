/** Every job with its status and progress, kept current by the live feed. */
import { Trans, useTranslation } from 'react-i18next';
import { useLiveEvent } from '../live';
import { ErrorNote } from '../components/ErrorNote';
import { PageHeading } from '../components/PageHeading';
import { StatusBadge } from '../components/StatusBadge';
import { Table } from '../components/Table';
import { formatTime } from '../format';
import { applyJobEvent } from '../jobs';
import { useResource } from '../resource';
import { Link } from '../router';
import { useSession } from '../session';

export function JobsPage() {
  const { t } = useTranslation();
  const { canEdit } = useSession();
  const jobs = useResource('jobs', (api) => api.jobs());

  useLiveEvent('job', (event) => {
    if (!jobs.data) return;
    // A job created elsewhere: load the list again to get its record.
    if (!jobs.data.some((j) => j.id === event.job)) return jobs.reload();
    jobs.setData((list) => list?.map((j) => (j.id === event.job ? applyJobEvent(j, event) : j)));
  });

  return (
    <>
      <PageHeading title={t('jobs.title')}>
        {canEdit && (
          <Link to="/jobs/new" className="button primary">
            {t('jobs.new')}
          </Link>
        )}
      </PageHeading>
      <ErrorNote error={jobs.error} what={t('jobs.what')} />
      {jobs.data && jobs.data.length === 0 && (
        <p className="empty">
          {canEdit ? <Trans i18nKey="jobs.emptyCreate" components={{ create: <Link to="/jobs/new" /> }} /> : t('jobs.empty')}
        </p>
      )}
      {jobs.data && (
        <Table
          rows={[...jobs.data].reverse()}
          rowKey={(job) => job.id}
          label={t('jobs.title')}
          columns={[
            { key: 'name', label: t('jobs.name'), rowHeader: true, render: (job) => <Link to={`/jobs/${encodeURIComponent(job.id)}`}>{job.spec.name}</Link> },
            { key: 'model', label: t('jobs.model'), render: (job) => t(`modelShort.${job.spec.model}`) },
            { key: 'target', label: t('jobs.target'), render: (job) => job.spec.target },
            { key: 'status', label: t('jobs.status'), render: (job) => <StatusBadge status={job.status} /> },
            { key: 'round', label: t('jobs.round'), numeric: true, render: (job) => t('jobs.roundOf', { round: job.round, rounds: job.spec.rounds }) },
            { key: 'created', label: t('jobs.created'), render: (job) => formatTime(job.createdAt) },
          ]}
        />
      )}
    </>
  );
}
