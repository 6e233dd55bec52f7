// The console's shell: session check, login, navigation and the page for the route.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, configureApi, type Session } from './api.ts';
import { href, useRoute, type Route } from './router.ts';
import { ChannelPage } from './pages/channel.tsx';
import { ChannelsPage } from './pages/channels.tsx';
import { ErrorsPage } from './pages/errors.tsx';
import { LoginPage } from './pages/login.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { PushPage } from './pages/push.tsx';
import { RoomsPage } from './pages/rooms.tsx';
import './styles.css';

const NAV: readonly { label: string; route: Route; pages: Route['page'][] }[] = [
  { label: 'Overview', route: { page: 'overview' }, pages: ['overview'] },
  { label: 'Channels', route: { page: 'channels', app: null }, pages: ['channels', 'channel'] },
  { label: 'Rooms', route: { page: 'rooms' }, pages: ['rooms'] },
  { label: 'Push', route: { page: 'push', app: null }, pages: ['push'] },
  { label: 'Errors', route: { page: 'errors', code: null }, pages: ['errors'] },
];

const TITLES: Record<Route['page'], string> = {
  overview: 'Overview',
  channels: 'Channels',
  channel: 'Channel',
  rooms: 'Rooms and spaces',
  push: 'Push',
  errors: 'Errors',
};

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [ended, setEnded] = useState(false);
  const route = useRoute();

  useEffect(() => {
    configureApi(session ?? null, () => {
      setEnded(session !== null && session !== undefined);
      setSession(null);
    });
  }, [session]);

  useEffect(() => {
    api.get<Session>('session').then(setSession, () => setSession(null));
  }, []);

  useEffect(() => {
    document.title = session ? `${TITLES[route.page]} · roomcast console` : 'Log in · roomcast console';
  }, [route, session]);

  // After following a link, keyboard and screen-reader users land on the new page's content.
  const firstRoute = useRef(true);
  useEffect(() => {
    if (firstRoute.current) {
      firstRoute.current = false;
      return;
    }
    document.getElementById('main')?.focus();
  }, [route.page, route.page === 'channel' ? route.channel : null]);

  if (session === undefined) return <main id="main" class="loading" aria-busy="true">Loading…</main>;
  if (session === null) {
    return (
      <LoginPage
        ended={ended}
        onLogin={(next) => {
          setEnded(false);
          configureApi(next, () => setSession(null));
          setSession(next);
        }}
      />
    );
  }

  const logout = async () => {
    await api.post('logout').catch(() => undefined);
    setEnded(false);
    setSession(null);
  };

  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/overview">roomcast</a>
        <nav aria-label="Console pages">
          <ul>
            {NAV.map((item) => (
              <li key={item.label}>
                <a href={href(item.route)} aria-current={item.pages.includes(route.page) ? 'page' : undefined}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span>
            {session.user} <span class="badge role">{session.role === 'admin' ? 'admin' : 'read-only'}</span>
          </span>
          <button type="button" onClick={logout}>
            Log out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} session={session} />
      </main>
    </>
  );
}

function Page(props: { route: Route; session: Session }) {
  const { route, session } = props;
  switch (route.page) {
    case 'overview':
      return <OverviewPage />;
    case 'channels':
      return <ChannelsPage app={route.app} />;
    case 'channel':
      return <ChannelPage key={`${route.app}/${route.channel}`} app={route.app} channel={route.channel} admin={session.role === 'admin'} />;
    case 'rooms':
      return <RoomsPage admin={session.role === 'admin'} />;
    case 'push':
      return <PushPage app={route.app} />;
    case 'errors':
      return <ErrorsPage code={route.code} />;
  }
}

render(<App />, document.getElementById('app')!);
