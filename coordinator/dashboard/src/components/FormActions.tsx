/**
 * The end of every form: the form-wide error (announced to screen readers as it
 * appears) and the submit button, which says what it is doing while busy.
 */
import type { ReactNode } from 'react';

export function FormActions({ error, busy, label, busyLabel, children }: { error: string | undefined; busy: boolean; label: string; busyLabel: string; children?: ReactNode }) {
  return (
    <>
      <p className="error form-error" role="alert">
        {error}
      </p>
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? busyLabel : label}
        </button>
        {children}
      </div>
    </>
  );
}
