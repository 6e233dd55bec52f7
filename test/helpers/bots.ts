/**
 * Raw-HTTP helpers for the bot API: log in, then POST Bayeux messages with the cookies.
 */
export interface BotLogin {
  readonly status: number;
  /** `API-Cookie=…; API-Route=…`, as a client must send it back. */
  readonly cookie: string;
  readonly setCookies: string[];
  readonly body: Record<string, unknown>;
}

export const BOT_CREDENTIALS = { room: 'LOBBY-CODE', token: 'BOT-TOKEN' } as const;

export async function login(baseUrl: string, credentials: { room: string; token: string } = BOT_CREDENTIALS): Promise<BotLogin> {
  const response = await fetch(`${baseUrl}/api/v1/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(credentials),
  });
  const setCookies = response.headers.getSetCookie();
  return {
    status: response.status,
    setCookies,
    cookie: setCookies.map((header) => header.split(';')[0]).join('; '),
    body: (await response.json()) as Record<string, unknown>,
  };
}

export type BayeuxReply = Record<string, unknown> & { channel?: string; successful?: boolean; error?: string; clientId?: string };

/** POSTs messages to /api/v1/bayeux; returns the raw response. */
export function bayeuxPost(baseUrl: string, cookie: string | undefined, body: unknown, init: { path?: string; contentType?: string; raw?: boolean } = {}): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': init.contentType ?? 'application/json' };
  if (cookie !== undefined) headers.cookie = cookie;
  return fetch(`${baseUrl}${init.path ?? '/api/v1/bayeux'}`, {
    method: 'POST',
    headers,
    body: init.raw === true ? (body as string) : JSON.stringify(body),
  });
}

/** POSTs messages and parses the JSON reply array (asserting a 200). */
export async function bayeux(baseUrl: string, cookie: string, messages: unknown): Promise<BayeuxReply[]> {
  const response = await bayeuxPost(baseUrl, cookie, messages);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`bayeux answered ${response.status}: ${text}`);
  return JSON.parse(text) as BayeuxReply[];
}

/** Handshakes and returns the client id. */
export async function handshake(baseUrl: string, cookie: string): Promise<string> {
  const [reply] = await bayeux(baseUrl, cookie, [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
  if (reply?.successful !== true || typeof reply.clientId !== 'string') throw new Error(`handshake failed: ${JSON.stringify(reply)}`);
  return reply.clientId;
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function until<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 5000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
