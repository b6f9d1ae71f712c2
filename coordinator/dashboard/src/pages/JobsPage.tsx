/** Every job with its status and progress, kept current by the live feed. */
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
      <PageHeading title="Jobs">
        {canEdit && (
          <Link to="/jobs/new" className="button primary">
            New job
          </Link>
        )}
      </PageHeading>
      <ErrorNote error={jobs.error} what="the jobs" />
      {jobs.data && jobs.data.length === 0 && (
        <p className="empty">No jobs yet.{canEdit && <> <Link to="/jobs/new">Create the first one</Link>.</>}</p>
      )}
      {jobs.data && (
        <Table
          rows={[...jobs.data].reverse()}
          rowKey={(job) => job.id}
          label="Jobs"
          columns={[
            { key: 'name', label: 'Name', rowHeader: true, render: (job) => <Link to={`/jobs/${encodeURIComponent(job.id)}`}>{job.spec.name}</Link> },
            { key: 'model', label: 'Model', render: (job) => job.spec.model },
            { key: 'target', label: 'Target', render: (job) => job.spec.target },
            { key: 'status', label: 'Status', render: (job) => <StatusBadge status={job.status} /> },
            { key: 'round', label: 'Round', numeric: true, render: (job) => `${job.round} / ${job.spec.rounds}` },
            { key: 'created', label: 'Created', render: (job) => formatTime(job.createdAt) },
          ]}
        />
      )}
    </>
  );
}
