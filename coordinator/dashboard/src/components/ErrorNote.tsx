/** A failed request, in the server's words. */
import type { ApiError } from '../api';

export function ErrorNote({ error, what }: { error: ApiError | undefined; what: string }) {
  if (!error) return null;
  return (
    <p className="notice error" role="alert">
      Could not load {what}: {error.message}
    </p>
  );
}
