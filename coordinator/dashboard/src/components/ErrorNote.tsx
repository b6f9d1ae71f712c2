/** A request that failed, in the reader's language. */
import { useTranslation } from 'react-i18next';
import type { ApiError } from '../api';
import { describeError } from '../messages';

/** `what` is already translated: "the jobs", "the audit log". */
export function ErrorNote({ error, what }: { error: ApiError | undefined; what: string }) {
  const { t } = useTranslation();
  if (!error) return null;
  return (
    <p className="notice error" role="alert">
      {t('errors.couldNotLoad', { what, reason: describeError(t, error) })}
    </p>
  );
}
