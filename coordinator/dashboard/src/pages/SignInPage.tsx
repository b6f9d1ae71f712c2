/**
 * Sign-in. Today with a token: the coordinator's admin token, or its viewer
 * token for read-only access. A name and password form for user accounts would
 * sit beside this one and hand the same Session to `onSignedIn`.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError } from '../api';
import { signIn, type Session } from '../session';

export function SignInPage({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const field = useRef<HTMLInputElement>(null);

  useEffect(() => {
    document.title = 'Sign in · FL consortium';
    field.current?.focus();
  }, []);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!token.trim()) {
      setError('Enter the access token.');
      field.current?.focus();
      return;
    }
    setBusy(true);
    try {
      onSignedIn(await signIn(token.trim()));
    } catch (err) {
      setError(err instanceof ApiError && err.code === 'UNAUTHORIZED' ? 'The coordinator does not know this token.' : (err as Error).message);
      setBusy(false);
      field.current?.focus();
    }
  };

  return (
    <main id="main" className="sign-in">
      <form className="card" onSubmit={submit} noValidate aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">FL consortium</h1>
        <p className="muted">Sign in to follow the consortium's participants and training jobs.</p>
        <div className="field">
          <label htmlFor="token">Access token</label>
          <input
            ref={field}
            id="token"
            name="token"
            type="password"
            autoComplete="current-password"
            spellCheck={false}
            value={token}
            aria-invalid={error ? true : undefined}
            aria-describedby="token-hint token-error"
            onChange={(e) => {
              setToken(e.target.value);
              setError(undefined);
            }}
          />
          <p id="token-hint" className="hint">
            The coordinator's admin token, or its viewer token for read-only access.
          </p>
          <p id="token-error" className="error" role="alert">
            {error}
          </p>
        </div>
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
