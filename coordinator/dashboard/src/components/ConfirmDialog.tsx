/**
 * Asks before an action that cannot be undone from here (revoking, rejecting,
 * removing), optionally with a reason for the audit log. A modal <dialog>: it
 * keeps the focus inside and Escape cancels. The action runs from the dialog,
 * so a refusal is shown where it was asked for.
 */
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { describeError } from '../messages';

export interface Confirmation {
  title: string;
  message: ReactNode;
  confirmLabel: string;
  /** for when "Cancel" would read as the action itself */
  cancelLabel?: string;
  /** ask for an optional reason, and say where it goes */
  reason?: string;
  run: (reason: string) => Promise<void>;
}

export function ConfirmDialog({ confirmation, onClose }: { confirmation: Confirmation; onClose: () => void }) {
  const { t } = useTranslation();
  const dialog = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  useEffect(() => {
    const element = dialog.current;
    // Twice in development (StrictMode): opening an open dialog again would throw.
    if (!element || element.open) return;
    element.showModal();
    // The reason when there is one to give, else Cancel: never the destructive button.
    element.querySelector<HTMLElement>('[data-autofocus]')?.focus();
  }, []);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await confirmation.run(reason.trim());
      dialog.current?.close();
    } catch (err) {
      setError(describeError(t, err));
      setBusy(false);
    }
  };

  return (
    <dialog ref={dialog} className="dialog" aria-labelledby="dialog-title" onClose={onClose}>
      <form onSubmit={submit} noValidate>
        <h2 id="dialog-title">{confirmation.title}</h2>
        <div className="dialog-message">{confirmation.message}</div>
        {confirmation.reason !== undefined && (
          <div className="field">
            <label htmlFor="dialog-reason">{t('dialog.reason')}</label>
            <textarea
              id="dialog-reason"
              rows={3}
              maxLength={1000}
              value={reason}
              aria-describedby="dialog-reason-hint"
              data-autofocus
              onChange={(e) => setReason(e.target.value)}
            />
            <p id="dialog-reason-hint" className="hint">
              {confirmation.reason}
            </p>
          </div>
        )}
        <p className="error form-error" role="alert">
          {error}
        </p>
        <div className="form-actions">
          <button type="submit" className="button danger" disabled={busy}>
            {busy ? t('dialog.working') : confirmation.confirmLabel}
          </button>
          <button type="button" className="button subtle" data-autofocus={confirmation.reason === undefined ? true : undefined} onClick={() => dialog.current?.close()}>
            {confirmation.cancelLabel ?? t('dialog.cancel')}
          </button>
        </div>
      </form>
    </dialog>
  );
}
