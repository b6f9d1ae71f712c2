/** A job's status as a coloured label; the word itself carries the meaning. */
import type { JobStatus } from '../types';

export function StatusBadge({ status }: { status: JobStatus }) {
  return (
    <span className={`status status-${status}`} data-testid="job-status">
      {status}
    </span>
  );
}
