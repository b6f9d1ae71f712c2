/** Every job with its status and progress, kept current by the live feed. */
import { useLiveEvent } from '../live';
import { ErrorNote } from '../components/ErrorNote';
import { PageHeading } from '../components/PageHeading';
import { StatusBadge } from '../components/StatusBadge';
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
      {jobs.data && jobs.data.length > 0 && (
        <div className="table-wrap" role="region" aria-label="Jobs" tabIndex={0}>
          <table className="stack">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Model</th>
                <th scope="col">Target</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">Round</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {[...jobs.data].reverse().map((job) => (
                <tr key={job.id}>
                  <th scope="row">
                    <Link to={`/jobs/${encodeURIComponent(job.id)}`}>{job.spec.name}</Link>
                  </th>
                  <td data-label="Model">{job.spec.model}</td>
                  <td data-label="Target">{job.spec.target}</td>
                  <td data-label="Status">
                    <StatusBadge status={job.status} />
                  </td>
                  <td className="num" data-label="Round">
                    {job.round} / {job.spec.rounds}
                  </td>
                  <td data-label="Created">{formatTime(job.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
