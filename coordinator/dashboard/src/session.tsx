/**
 * Who is signed in: a token and its role, kept for the browser tab
 * (sessionStorage), so a reload stays signed in and closing the tab signs out.
 * Today the token is the coordinator's admin or viewer token. A user login
 * would exchange a name and password for a token and a role in `signIn`; the
 * rest of the app only ever sees a Session.
 */
import { createContext, useContext, useMemo, type ReactNode } from 'react';
import { Api } from './api';
import type { Role } from './types';

export interface Session {
  token: string;
  role: Role;
}

const STORAGE_KEY = 'fl-dashboard-session';

/** Asks the coordinator which role the token has; throws ApiError when it has none. */
export async function signIn(token: string): Promise<Session> {
  const { role } = await new Api(token).session();
  return { token, role };
}

export function loadSession(): Session | null {
  try {
    const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null') as Session | null;
    return stored && typeof stored.token === 'string' && (stored.role === 'admin' || stored.role === 'viewer') ? stored : null;
  } catch {
    return null;
  }
}

export function storeSession(session: Session | null): void {
  if (session) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(STORAGE_KEY);
}

interface SessionContextValue {
  session: Session;
  api: Api;
  /** whether this session may change anything: viewers only read */
  canEdit: boolean;
  signOut: () => void;
}

const SessionContext = createContext<SessionContextValue | null>(null);

export function SessionProvider({ session, signOut, children }: { session: Session; signOut: () => void; children: ReactNode }) {
  const value = useMemo(
    () => ({ session, api: new Api(session.token), canEdit: session.role === 'admin', signOut }),
    [session, signOut],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionContextValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}
