// Talking to the console door: JSON over fetch (the session cookie rides along; POSTs
// carry the CSRF token), and one EventSource per page for live values.
import { useEffect, useRef, useState } from 'preact/hooks';

export interface Session {
  readonly user: string;
  readonly role: 'admin' | 'readonly';
  readonly csrf: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
  ) {
    super(message);
  }
}

let csrf = '';
let onUnauthenticated: () => void = () => undefined;

/** Remembers the session's CSRF token and what to do when the session ends. */
export function configureApi(session: Session | null, unauthenticated: () => void): void {
  csrf = session?.csrf ?? '';
  onUnauthenticated = unauthenticated;
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    headers['x-csrf-token'] = csrf;
  }
  const response = await fetch(`api/${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    body: method === 'GET' ? undefined : JSON.stringify(body ?? {}),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const error = (parsed ?? {}) as { code?: string; message?: string; request_id?: string };
    if (response.status === 401 && error.code === 'RC_ERR_CONSOLE_UNAUTHENTICATED') onUnauthenticated();
    throw new ApiError(response.status, error.code ?? 'RC_ERR_INTERNAL', error.message ?? `HTTP ${response.status}`, error.request_id ?? null);
  }
  return parsed as T;
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body),
};

/** `encodeURIComponent` for query values. */
export function q(params: Record<string, string | undefined>): string {
  const entries = Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '');
  return entries.length === 0 ? '' : `?${entries.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}`;
}

export type StreamState = 'connecting' | 'live' | 'retrying';

/**
 * Opens `api/{path}` as an event stream while the component is mounted, calling
 * `handlers[event]` with each event's parsed data. Reconnects on its own (EventSource).
 */
export function useStream(path: string | null, handlers: Record<string, (data: any) => void>): StreamState {
  const [state, setState] = useState<StreamState>('connecting');
  const current = useRef(handlers);
  current.current = handlers;
  useEffect(() => {
    if (path === null) return undefined;
    setState('connecting');
    const source = new EventSource(`api/${path}`, { withCredentials: true });
    source.onopen = () => setState('live');
    source.onerror = () => {
      setState('retrying');
      // A stream refused for a missing session never opens: ask once to find out why.
      if (source.readyState === EventSource.CLOSED) void api.get('session').catch(() => undefined);
    };
    const names = Object.keys(current.current);
    const listeners = names.map((name) => {
      const listener = (event: MessageEvent<string>) => current.current[name]?.(JSON.parse(event.data));
      source.addEventListener(name, listener as EventListener);
      return listener;
    });
    source.addEventListener('session', () => void api.get('session').catch(() => undefined));
    return () => {
      names.forEach((name, index) => source.removeEventListener(name, listeners[index] as EventListener));
      source.close();
    };
  }, [path]);
  return state;
}
