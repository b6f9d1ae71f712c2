/**
 * A secret the coordinator shows once (an invitation's or an API token's): it
 * keeps only a hash, so the secret stays on screen, with copy buttons, until
 * the admin says it is copied.
 */
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';

/** Puts text on the clipboard; falls back to the older command where the Clipboard API is missing or refused (plain http). */
async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    return;
  } catch {
    // Below: a hidden selection and the copy command, which a click still allows.
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.append(area);
  area.select();
  const copied = document.execCommand('copy');
  area.remove();
  if (!copied) throw new Error('copy refused');
}

export function CopyButton({ text, label }: { text: string; label: string }) {
  const { t } = useTranslation();
  const [state, setState] = useState<'copied' | 'failed'>();
  const copy = async () => {
    try {
      await copyText(text);
      setState('copied');
    } catch {
      setState('failed');
    }
  };
  return (
    <span className="copy">
      <button type="button" className="button small" onClick={() => void copy()}>
        {label}
      </button>
      <span className="hint" role="status">
        {state === 'copied' ? t('secret.copied') : state === 'failed' ? t('secret.copyFailed') : ''}
      </span>
    </span>
  );
}

export function OneTimeSecret({
  title,
  secret,
  secretLabel,
  testId,
  children,
  onDone,
}: {
  title: string;
  secret: string;
  secretLabel: string;
  testId: string;
  /** more to copy along with the secret, e.g. the command that uses it */
  children?: ReactNode;
  onDone: () => void;
}) {
  const { t } = useTranslation();
  const heading = useRef<HTMLHeadingElement>(null);
  // It appears below the form that made it: take the keyboard, and a screen reader, there.
  useEffect(() => heading.current?.focus(), [secret]);
  return (
    <section className="secret" aria-labelledby={`${testId}-title`} data-testid={`${testId}-panel`}>
      <h3 id={`${testId}-title`} ref={heading} tabIndex={-1}>
        {title}
      </h3>
      <p>
        <strong>{t('secret.copyNow')}</strong> {t('secret.onlyHash')}
      </p>
      <div className="secret-line">
        <span className="secret-label">{secretLabel}</span>
        <code data-testid={testId}>{secret}</code>
        <CopyButton text={secret} label={t('secret.copyToken')} />
      </div>
      {children}
      <div className="form-actions">
        <button type="button" className="button" onClick={onDone}>
          {t('secret.done')}
        </button>
      </div>
    </section>
  );
}
