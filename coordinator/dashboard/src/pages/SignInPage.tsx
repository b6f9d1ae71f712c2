/**
 * Sign-in: a user name and password, which the coordinator trades for a
 * session. A token can be given instead, for those who have no account: an API
 * token, or the coordinator's configured admin or viewer token.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError } from '../api';
import { signIn, signInWithToken, type Session } from '../session';

type Method = 'password' | 'token';

/** Why the sign-in page is back: the coordinator stopped accepting the session (it expired, or was ended elsewhere). */
export type SignInNotice = 'session-ended';

const NOTICES: Record<SignInNotice, string> = {
  'session-ended': 'The coordinator no longer accepts this session (it expired, or was ended): sign in again.',
};

function refusal(err: unknown, method: Method): string {
  if (!(err instanceof ApiError)) return String(err);
  if (err.code === 'UNAUTHORIZED') return method === 'password' ? 'Wrong user name or password.' : 'The coordinator does not know this token.';
  // The coordinator counts failures per address and per user name, over a minute.
  if (err.code === 'RATE_LIMITED') return 'Too many failed sign-ins: the coordinator refuses more for now. Wait a minute, then try again.';
  return err.message;
}

export function SignInPage({ notice, onSignedIn }: { notice?: SignInNotice; onSignedIn: (session: Session) => void }) {
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

  useEffect(() => {
    document.title = 'Sign in · FL consortium';
  }, []);
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
    if (method === 'password' && !name.trim()) return refuse('Enter your user name.', 'name');
    if (method === 'password' && !password) return refuse('Enter your password.', 'password');
    if (method === 'token' && !token.trim()) return refuse('Enter the access token.', 'token');
    setBusy(true);
    try {
      onSignedIn(method === 'password' ? await signIn(name.trim(), password) : await signInWithToken(token.trim()));
    } catch (err) {
      setBusy(false);
      if (method === 'password') setPassword('');
      refuse(refusal(err, method), method === 'password' ? 'password' : 'token');
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
      <form className="card" onSubmit={submit} noValidate aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">FL consortium</h1>
        <p className="muted">Sign in to follow the consortium's participants and training jobs.</p>
        {notice && (
          <p className="notice" role="status">
            {NOTICES[notice]}
          </p>
        )}
        {method === 'password' ? (
          <>
            <div className="field">
              <label htmlFor="user-name">User name</label>
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
              <label htmlFor="password">Password</label>
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
            <label htmlFor="token">Access token</label>
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
              An API token made on the Users page, or the coordinator's configured admin or viewer token.
            </p>
            {errorNote}
          </div>
        )}
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p className="other-method">
          {method === 'password' ? (
            <button type="button" className="link-button" onClick={() => switchTo('token')}>
              Sign in with an API token
            </button>
          ) : (
            <button type="button" className="link-button" onClick={() => switchTo('password')}>
              Sign in with a user name and password
            </button>
          )}
        </p>
      </form>
    </main>
  );
}
