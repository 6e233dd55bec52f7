// Hash routes (`#/channel/app-1/presence-room`): the server serves one page, and any
// view is a link an operator can share.
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'overview' }
  | { page: 'channels'; app: string | null }
  | { page: 'channel'; app: string; channel: string }
  | { page: 'rooms' }
  | { page: 'push'; app: string | null }
  | { page: 'errors'; code: string | null };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  });
  switch (parts[0]) {
    case 'channels':
      return { page: 'channels', app: parts[1] || null };
    case 'channel':
      if (parts[1] && parts[2]) return { page: 'channel', app: parts[1], channel: parts.slice(2).join('/') };
      return { page: 'channels', app: parts[1] || null };
    case 'rooms':
      return { page: 'rooms' };
    case 'push':
      return { page: 'push', app: parts[1] || null };
    case 'errors':
      return { page: 'errors', code: parts[1] || null };
    default:
      return { page: 'overview' };
  }
}

export function href(route: Route): string {
  const e = encodeURIComponent;
  switch (route.page) {
    case 'overview':
      return '#/overview';
    case 'channels':
      return route.app === null ? '#/channels' : `#/channels/${e(route.app)}`;
    case 'channel':
      return `#/channel/${e(route.app)}/${e(route.channel)}`;
    case 'rooms':
      return '#/rooms';
    case 'push':
      return route.app === null ? '#/push' : `#/push/${e(route.app)}`;
    case 'errors':
      return route.code === null ? '#/errors' : `#/errors/${e(route.code)}`;
  }
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
