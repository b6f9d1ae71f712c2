/**
 * Sign-in: a user name and password, which the coordinator trades for a
 * session. A token can be given instead, for those who have no account: an API
 * token, or the coordinator's configured admin or viewer token.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { TFunction } from 'i18next';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../api';
import { LanguageSwitch } from '../components/LanguageSwitch';
import { describeError } from '../messages';
import { signIn, signInWithToken, type Session } from '../session';

type Method = 'password' | 'token';

/** Why the sign-in page is back: the coordinator stopped accepting the session (it expired, or was ended elsewhere). */
export type SignInNotice = 'session-ended';

function refusal(t: TFunction, err: unknown, method: Method): string {
  if (err instanceof ApiError && err.code === 'UNAUTHORIZED') return method === 'password' ? t('signIn.wrongPassword') : t('signIn.unknownToken');
  // The coordinator counts failures per address and per user name, over a minute.
  if (err instanceof ApiError && err.code === 'RATE_LIMITED') return t('signIn.rateLimited');
  return describeError(t, err);
}

export function SignInPage({ notice, onSignedIn }: { notice?: SignInNotice; onSignedIn: (session: Session) => void }) {
  const { t } = useTranslation();
  const [method, setMethod] = useState<Method>('password');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const [error, setError] = useState<{ text: string; field: 'name' | 'password' | 'token' }>();
  const [busy, setBusy] = useState(false);
  const nameField = useRef<HTMLInputElement>(null);
  const passwordField = useRef<HTMLInputElement>(null);
  const tokenField = useRef<HTMLInputElement>(null);
  const fields = { name: nameField, password: passwordField, token: tokenField };

  const documentTitle = t('app.documentTitle', { page: t('signIn.title') });
  useEffect(() => {
    document.title = documentTitle;
  }, [documentTitle]);
  // The first field of the chosen method, on arrival and on each switch.
  useEffect(() => {
    (method === 'password' ? nameField : tokenField).current?.focus();
  }, [method]);

  const refuse = (text: string, field: keyof typeof fields) => {
    setError({ text, field });
    fields[field].current?.focus();
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (method === 'password' && !name.trim()) return refuse(t('signIn.enterName'), 'name');
    if (method === 'password' && !password) return refuse(t('signIn.enterPassword'), 'password');
    if (method === 'token' && !token.trim()) return refuse(t('signIn.enterToken'), 'token');
    setBusy(true);
    try {
      onSignedIn(method === 'password' ? await signIn(name.trim(), password) : await signInWithToken(token.trim()));
    } catch (err) {
      setBusy(false);
      if (method === 'password') setPassword('');
      refuse(refusal(t, err, method), method === 'password' ? 'password' : 'token');
    }
  };

  const switchTo = (next: Method) => {
    setMethod(next);
    setError(undefined);
  };
  const invalid = (field: 'name' | 'password' | 'token') => (error?.field === field ? true : undefined);
  const errorNote = (
    <p id="sign-in-error" className="error" role="alert">
      {error?.text}
    </p>
  );

  return (
    <main id="main" className="sign-in">
      <div className="sign-in-language">
        <LanguageSwitch />
      </div>
      <form className="card" onSubmit={submit} noValidate aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">{t('app.name')}</h1>
        <p className="muted">{t('signIn.intro')}</p>
        {notice && (
          <p className="notice" role="status">
            {t(`signIn.notices.${notice}`)}
          </p>
        )}
        {method === 'password' ? (
          <>
            <div className="field">
              <label htmlFor="user-name">{t('signIn.userName')}</label>
              <input
                ref={nameField}
                id="user-name"
                name="username"
                type="text"
                autoComplete="username"
                autoCapitalize="none"
                spellCheck={false}
                value={name}
                aria-invalid={invalid('name')}
                aria-describedby="sign-in-error"
                onChange={(e) => {
                  setName(e.target.value);
                  setError(undefined);
                }}
              />
            </div>
            <div className="field">
              <label htmlFor="password">{t('signIn.password')}</label>
              <input
                ref={passwordField}
                id="password"
                name="password"
                type="password"
                autoComplete="current-password"
                value={password}
                aria-invalid={invalid('password')}
                aria-describedby="sign-in-error"
                onChange={(e) => {
                  setPassword(e.target.value);
                  setError(undefined);
                }}
              />
              {errorNote}
            </div>
          </>
        ) : (
          <div className="field">
            <label htmlFor="token">{t('signIn.token')}</label>
            <input
              ref={tokenField}
              id="token"
              name="token"
              type="password"
              autoComplete="off"
              spellCheck={false}
              value={token}
              aria-invalid={invalid('token')}
              aria-describedby="token-hint sign-in-error"
              onChange={(e) => {
                setToken(e.target.value);
                setError(undefined);
              }}
            />
            <p id="token-hint" className="hint">
              {t('signIn.tokenHint')}
            </p>
            {errorNote}
          </div>
        )}
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? t('signIn.busy') : t('signIn.submit')}
        </button>
        <p className="other-method">
          {method === 'password' ? (
            <button type="button" className="link-button" onClick={() => switchTo('token')}>
              {t('signIn.withToken')}
            </button>
          ) : (
            <button type="button" className="link-button" onClick={() => switchTo('password')}>
              {t('signIn.withPassword')}
            </button>
          )}
        </p>
      </form>
    </main>
  );
}
