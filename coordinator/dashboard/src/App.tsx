/**
 * The app shell: the sign-in page until a session exists, then the pages
 * behind a header with the navigation, the live status and who is signed in.
 */
import { lazy, Suspense, useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { LanguageSwitch } from './components/LanguageSwitch';
import { LiveProvider, useLiveStatus } from './live';
import { Link, navigate, usePath } from './router';
import { endSession, loadSession, SessionProvider, storeSession, useSession, type Session, type SessionEnd } from './session';
import { AuditPage } from './pages/AuditPage';
import { JobsPage } from './pages/JobsPage';
import { NotFoundPage } from './pages/NotFoundPage';
import { ParticipantsPage } from './pages/ParticipantsPage';
import { SignInPage, type SignInNotice } from './pages/SignInPage';
import { UsersPage } from './pages/UsersPage';

// The charts (recharts) and the form's schema (zod) are most of the code: load them with their pages.
const JobPage = lazy(() => import('./pages/JobPage').then((m) => ({ default: m.JobPage })));
const NewJobPage = lazy(() => import('./pages/NewJobPage').then((m) => ({ default: m.NewJobPage })));

export function App() {
  // Every page reads the language: a change renders the whole app again.
  useTranslation();
  const [session, setSession] = useState<Session | null>(loadSession);
  const [notice, setNotice] = useState<SignInNotice>();
  // Requests finish after the render that started them: these say which session is the tab's now.
  const current = useRef(session);
  const leaving = useRef<Session | null>(null);
  const show = useCallback((next: Session | null, why?: SignInNotice) => {
    current.current = next;
    storeSession(next);
    setSession(next);
    setNotice(why);
  }, []);
  const onEnd = useCallback(
    (ended: Session, how: SessionEnd) => {
      // A request of an earlier session, refused after another signed in, says nothing about this one.
      if (current.current !== ended) return;
      if (how === 'signed-out') {
        leaving.current = ended;
        void endSession(ended).then(() => current.current === ended && show(null));
      } else if (leaving.current !== ended) {
        show(null, 'session-ended');
      }
    },
    [show],
  );

  if (!session) return <SignInPage notice={notice} onSignedIn={(signedIn) => show(signedIn)} />;
  return (
    <SessionProvider session={session} onEnd={onEnd}>
      <LiveProvider>
        <Shell>
          <Suspense fallback={<Loading />}>
            <Page />
          </Suspense>
        </Shell>
      </LiveProvider>
    </SessionProvider>
  );
}

function Page() {
  const path = usePath();
  if (path === '/' || path === '/jobs') return <JobsPage />;
  if (path === '/jobs/new') return <NewJobPage />;
  const job = /^\/jobs\/([^/]+)$/.exec(path);
  if (job) return <JobPage id={decodeURIComponent(job[1])} />;
  if (path === '/participants') return <ParticipantsPage />;
  if (path === '/audit') return <AuditPage />;
  if (path === '/users') return <UsersPage />;
  return <NotFoundPage />;
}

function Loading() {
  const { t } = useTranslation();
  return <p className="muted">{t('common.loading')}</p>;
}

const NAVIGATION: { to: string; label: string; current: (path: string) => boolean; adminOnly?: boolean }[] = [
  { to: '/jobs', label: 'nav.jobs', current: (path: string) => path === '/' || path.startsWith('/jobs') },
  { to: '/participants', label: 'nav.participants', current: (path: string) => path.startsWith('/participants') },
  { to: '/audit', label: 'nav.audit', current: (path: string) => path.startsWith('/audit') },
  // Users and API tokens are the admins' alone: the API refuses viewers even a look.
  { to: '/users', label: 'nav.users', current: (path: string) => path.startsWith('/users'), adminOnly: true },
];

function Shell({ children }: { children: ReactNode }) {
  const { t } = useTranslation();
  const { session, canEdit, signOut } = useSession();
  const { state } = useLiveStatus();
  const path = usePath();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);

  // After a navigation, move the focus to the new page's heading, as a page load would.
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [path]);

  return (
    <>
      <a className="skip-link" href="#main">
        {t('nav.skip')}
      </a>
      <header className="topbar">
        <Link to="/jobs" className="brand">
          {t('app.name')}
        </Link>
        <nav aria-label={t('nav.main')}>
          <ul>
            {NAVIGATION.filter((item) => canEdit || !item.adminOnly).map((item) => (
              <li key={item.to}>
                <Link to={item.to} aria-current={item.current(path) ? 'page' : undefined}>
                  {t(item.label)}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="session">
          <span className={`live live-${state}`} role="status">
            <span className="dot" aria-hidden="true" />
            {t(`live.${state}`)}
          </span>
          <span className="user" data-testid="user">
            {session.user ?? t('session.configuredToken')}
          </span>
          <span className={`role role-${session.role}`} data-testid="role">
            {session.role === 'admin' ? t('session.admin') : t('session.viewer')}
          </span>
          <button
            type="button"
            className="button subtle"
            onClick={() => {
              signOut();
              navigate('/', { replace: true });
            }}
          >
            {t('session.signOut')}
          </button>
          <LanguageSwitch />
        </div>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {children}
      </main>
    </>
  );
}
