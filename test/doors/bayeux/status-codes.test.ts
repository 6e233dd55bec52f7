/**
 * Every status of the bot API FAQ, over real HTTP, with its documented body:
 * 400, 401 (room and token), 403, 405, 412, 503 (space not running, and busy).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startApp, testConfig, type RunningApp } from '../../helpers/app.ts';
import { bayeuxPost, handshake, login, until } from '../../helpers/bots.ts';
import { pusherJsClient, subscribed } from '../../helpers/pusher-peers.ts';

const spaces = [
  {
    id: 'acme',
    app: 'app-1',
    rooms: [{ id: 'lobby', code: 'LOBBY-CODE' }],
    bots: [{ id: 'helper-bot', token: 'BOT-TOKEN' }],
  },
  {
    id: 'dormant',
    app: 'app-1',
    running: false,
    rooms: [{ id: 'hall', code: 'DORMANT-CODE' }],
    bots: [{ id: 'sleepy', token: 'DORMANT-TOKEN' }],
  },
];

let server: RunningApp;

before(async () => {
  server = await startApp(testConfig({ spaces, bots: { maxEventLoopDelayMs: 0, sessionGraceMs: 400, connectTimeoutMs: 200 } }));
});
after(() => server.close());

async function jsonError(response: Response): Promise<{ code: string; message: string }> {
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  return (await response.json()) as { code: string; message: string };
}

async function textError(response: Response): Promise<string> {
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await response.text();
  assert.throws(() => JSON.parse(text), 'a /bayeux error body must not parse as JSON');
  return text;
}

const post = (body: string, contentType = 'application/json') =>
  fetch(`${server.url}/api/v1/login`, { method: 'POST', headers: { 'content-type': contentType }, body });

describe('/api/v1/login', () => {
  test('GET /test answers the service name and version', async () => {
    const response = await fetch(`${server.url}/test`);
    assert.equal(response.status, 200);
    const body = (await response.json()) as { service: string; version: string };
    assert.equal(body.service, 'roomcast');
    assert.match(body.version, /^\d+\.\d+\.\d+/);
  });

  test('GET /checkip answers the caller address (X-Forwarded-For ignored without a trusted proxy)', async () => {
    const response = await fetch(`${server.url}/checkip`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    assert.deepEqual(await response.json(), { ip: '127.0.0.1' });
  });

  test('405 with Allow: POST when not POSTed', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'OPTIONS']) {
      const response = await fetch(`${server.url}/api/v1/login`, { method });
      assert.equal(response.status, 405);
      assert.equal(response.headers.get('allow'), 'POST');
      const body = await jsonError(response);
      assert.equal(body.code, 'RC_ERR_HTTP_METHOD_NOT_ALLOWED');
      assert.match(body.message, /use POST/);
    }
  });

  test('400 when the body is not JSON, or room/token is missing or not a string', async () => {
    const cases: [string, string, RegExp][] = [
      ['room=LOBBY-CODE&token=BOT-TOKEN', 'application/x-www-form-urlencoded', /not JSON/],
      ['{"room": "LOBBY-CODE",', 'application/json', /not JSON/],
      ['{"room": "LOBBY-CODE"}', 'application/json', /token is missing/],
      ['{"token": "BOT-TOKEN"}', 'application/json', /room is missing/],
      ['{"room": 42, "token": "BOT-TOKEN"}', 'application/json', /room is missing or not a string/],
      ['["LOBBY-CODE", "BOT-TOKEN"]', 'application/json', /expected \{"room"/],
    ];
    for (const [body, type, message] of cases) {
      const response = await post(body, type);
      assert.equal(response.status, 400, body);
      const error = await jsonError(response);
      assert.equal(error.code, 'RC_ERR_BOT_LOGIN_BAD_BODY');
      assert.match(error.message, message);
    }
  });

  test('401 says the room code failed', async () => {
    const response = await post(JSON.stringify({ room: 'NO-SUCH-ROOM', token: 'BOT-TOKEN' }));
    assert.equal(response.status, 401);
    const error = await jsonError(response);
    assert.equal(error.code, 'RC_ERR_BOT_ROOM_INVALID');
    assert.match(error.message, /room code is unknown or expired/);
  });

  test('401 says the API token failed (also for a bot of another space)', async () => {
    for (const token of ['NO-SUCH-TOKEN', 'DORMANT-TOKEN']) {
      const response = await post(JSON.stringify({ room: 'LOBBY-CODE', token }));
      assert.equal(response.status, 401);
      const error = await jsonError(response);
      assert.equal(error.code, 'RC_ERR_BOT_TOKEN_INVALID');
      assert.match(error.message, /API token is unknown or expired/);
    }
  });

  test('503 when the space is not running', async () => {
    const response = await post(JSON.stringify({ room: 'DORMANT-CODE', token: 'DORMANT-TOKEN' }));
    assert.equal(response.status, 503);
    const error = await jsonError(response);
    assert.equal(error.code, 'RC_ERR_BOT_SPACE_NOT_RUNNING');
    assert.match(error.message, /space dormant is not running/);
  });

  test('200 sets API-Cookie and API-Route with Version=1, values of cookie-octets only', async () => {
    const result = await login(server.url);
    assert.equal(result.status, 200);
    assert.equal(result.setCookies.length, 2);
    assert.match(result.setCookies[0]!, /^API-Cookie=![\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]+; Version=1$/);
    assert.match(result.setCookies[1]!, /^API-Route=![\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]+; Version=1$/);
    assert.deepEqual(result.body.bot, { id: 'helper-bot', displayName: 'helper-bot' });
    assert.deepEqual(result.body.room, { id: 'lobby', channel: 'presence-room-acme-lobby', stream: '/service/stream' });
    assert.equal((result.body.space as { id: string }).id, 'acme');
    assert.equal((result.body.session as { graceMs: number }).graceMs, 400);
  });
});

describe('/api/v1/bayeux', () => {
  const handshakeBody = [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }];

  test('412 when one or both cookies are missing', async () => {
    const { cookie } = await login(server.url);
    const [session, route] = cookie.split('; ');
    for (const sent of [undefined, session, route, 'other=1']) {
      const response = await bayeuxPost(server.url, sent, handshakeBody);
      assert.equal(response.status, 412, String(sent));
      assert.match(await textError(response), /RC_ERR_BOT_COOKIE_MISSING: cookie API-(Cookie|Route).* is missing/);
    }
  });

  test('400 when a cookie is altered, quoted, URL-encoded, or sent back with attributes', async () => {
    const { cookie } = await login(server.url);
    const other = await login(server.url);
    const [session, route] = cookie.split('; ') as [string, string];
    const sessionValue = session.slice('API-Cookie='.length);
    const flipped = sessionValue.slice(0, -1) + (sessionValue.endsWith('A') ? 'B' : 'A');
    const cases: [string, RegExp][] = [
      [`API-Cookie=${flipped}; ${route}`, /COOKIE_TAMPERED: cookie API-Cookie was altered/],
      [`${session}; ${other.cookie.split('; ')[1]}`, /COOKIE_TAMPERED: cookie API-Route was altered/],
      [`API-Cookie="${sessionValue}"; ${route}`, /is quoted/],
      [`API-Cookie=${sessionValue.replace('!', '%21')}; ${route}`, /URL-encoded/],
      [`${session}; Version=1; ${route}; Version=1`, /attribute "Version" was sent back/],
      [`$Version=1; ${session}; ${route}`, /attribute "\$Version" was sent back/],
      [`${session}; ${route}; Path=/`, /attribute "Path" was sent back/],
      [`${session}; Expires=Wed, 21 Oct 2037 07:28:00 GMT; ${route}`, /attribute "Expires" was sent back/],
      [`${session}; ${session}; ${route}`, /sent twice/],
    ];
    for (const [sent, message] of cases) {
      const response = await bayeuxPost(server.url, sent, handshakeBody);
      assert.equal(response.status, 400, sent);
      assert.match(await textError(response), message);
    }
  });

  test('the cookies as sent back per RFC 6265 (with or without SP after ";") are accepted', async () => {
    const { cookie } = await login(server.url);
    for (const sent of [cookie, cookie.replace('; ', ';')]) {
      const response = await bayeuxPost(server.url, sent, handshakeBody);
      assert.equal(response.status, 200);
      const [reply] = (await response.json()) as { successful: boolean }[];
      assert.equal(reply!.successful, true);
    }
  });

  test('403 telling the bot to log in again once its login expired', async () => {
    const { cookie } = await login(server.url);
    const clientId = await handshake(server.url, cookie);
    const response = await until(async () => {
      const attempt = await bayeuxPost(server.url, cookie, [{ channel: '/service/stream', clientId, data: 'still there?' }]);
      if (attempt.status === 200) {
        await attempt.body?.cancel();
        return undefined;
      }
      return attempt;
    });
    assert.equal(response.status, 403);
    assert.match(await textError(response), /RC_ERR_BOT_SESSION_EXPIRED: your login expired .*log in again with POST \/api\/v1\/login/);
  });

  test('405 for GET (no JSONP); a WebSocket probe is refused with 400', async () => {
    const { cookie } = await login(server.url);
    const get = await fetch(`${server.url}/api/v1/bayeux?message=[]&jsonp=cb`, { headers: { cookie } });
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    await textError(get);
  });

  test('405 with Allow: POST for OPTIONS, with or without cookies', async () => {
    const { cookie } = await login(server.url);
    for (const path of ['/api/v1/bayeux', '/api/v1/bayeux/connect']) {
      for (const headers of [{ cookie }, {}] as Record<string, string>[]) {
        const response = await fetch(`${server.url}${path}`, { method: 'OPTIONS', headers });
        assert.equal(response.status, 405, path);
        assert.equal(response.headers.get('allow'), 'POST');
        assert.match(await textError(response), /RC_ERR_HTTP_METHOD_NOT_ALLOWED: OPTIONS is not allowed here; use POST/);
      }
    }
  });

  test('503 with a short Retry-After when busy (live bot sessions over bots.maxSessions)', async () => {
    const busy = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0, maxSessions: 1 } }));
    try {
      assert.equal((await login(busy.url)).status, 200);
      const response = await fetch(`${busy.url}/api/v1/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ room: 'LOBBY-CODE', token: 'BOT-TOKEN' }),
      });
      assert.equal(response.status, 503);
      const retryAfter = Number(response.headers.get('retry-after'));
      assert.ok(retryAfter >= 5 && retryAfter <= 120, String(retryAfter));
      const error = await jsonError(response);
      assert.equal(error.code, 'RC_ERR_BOT_BUSY');
      assert.match(error.message, new RegExp(`try again in ${retryAfter} s`));
      // Other routes are not shed, and WebSocket (desktop/mobile) clients are still accepted.
      assert.equal((await fetch(`${busy.url}/test`)).status, 200);
      const person = await pusherJsClient(busy.port, { presence: { user_id: 'carol' } });
      try {
        assert.equal(person.connection.state, 'connected');
        await subscribed(person, 'presence-room-acme-lobby');
      } finally {
        person.disconnect();
      }
    } finally {
      await busy.close();
    }
  });
});
