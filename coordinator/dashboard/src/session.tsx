/**
 * Who is signed in: a token, its role and its user, kept for the browser tab
 * (sessionStorage), so a reload stays signed in and closing the tab signs out.
 * The token is a session the coordinator opened for a user name and password,
 * or a token given as it is: an API token, or the coordinator's configured
 * admin or viewer token (which belongs to no user). The rest of the app only
 * ever sees a Session.
 */
import { createContext, useContext, useMemo, type ReactNode } from 'react';
import { Api } from './api';
import type { Role } from './types';

export interface Session {
  token: string;
  role: Role;
  /** null for a configured token */
  user: string | null;
}

const STORAGE_KEY = 'fl-dashboard-session';

/** Trades a user name and password for a session; throws ApiError (UNAUTHORIZED, RATE_LIMITED) when refused. */
export async function signIn(name: string, password: string): Promise<Session> {
  const { token, role, user } = await new Api().signIn(name, password);
  return { token, role, user };
}

/** Asks the coordinator whose token this is; throws ApiError when it knows none. */
export async function signInWithToken(token: string): Promise<Session> {
  const { role, user } = await new Api(token).session();
  return { token, role, user };
}

/** Ends the session on the coordinator. A failure changes nothing: the tab forgets the token anyway. */
export async function endSession(session: Session): Promise<void> {
  await new Api(session.token).signOut().catch(() => undefined);
}

export function loadSession(): Session | null {
  try {
    const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null') as Partial<Session> | null;
    if (!stored || typeof stored.token !== 'string' || (stored.role !== 'admin' && stored.role !== 'viewer')) return null;
    return { token: stored.token, role: stored.role, user: typeof stored.user === 'string' ? stored.user : null };
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
  /** the API with this session's token; a refusal of the token ends the session in the tab */
  api: Api;
  /** whether this session may change anything: viewers only read */
  canEdit: boolean;
  /** ends the session on the coordinator, then in the tab */
  signOut: () => void;
}

/** How a session ended: signed out from the tab, or refused by the coordinator (it expired, or was ended elsewhere). */
export type SessionEnd = 'signed-out' | 'refused';

const SessionContext = createContext<SessionContextValue | null>(null);

export function SessionProvider({ session, onEnd, children }: { session: Session; onEnd: (session: Session, how: SessionEnd) => void; children: ReactNode }) {
  const value = useMemo(
    () => ({
      session,
      api: new Api(session.token, () => onEnd(session, 'refused')),
      canEdit: session.role === 'admin',
      signOut: () => onEnd(session, 'signed-out'),
    }),
    [session, onEnd],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionContextValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}
