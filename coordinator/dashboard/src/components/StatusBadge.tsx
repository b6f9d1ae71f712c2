/** A status as a coloured label (a job's, a participant's or an invitation's); the word itself carries the meaning. */
import { useTranslation } from 'react-i18next';
import type { InvitationStatus, JobStatus, ParticipantStatus } from '../types';

export function StatusBadge({ status, testId = 'job-status' }: { status: JobStatus | ParticipantStatus | InvitationStatus; testId?: string }) {
  const { t } = useTranslation();
  return (
    <span className={`status status-${status}`} data-testid={testId} data-status={status}>
      {t(`status.${status}`)}
    </span>
  );
}
