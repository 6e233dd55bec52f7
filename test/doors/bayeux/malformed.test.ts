/**
 * Hostile and malformed input on the bot API gets clear errors and never takes the
 * process down: bad JSON, non-array junk, unknown meta channels, missing fields,
 * oversized bodies, wrong content types, a WebSocket upgrade attempt.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, test } from 'node:test';
import { botSessionsOf } from '../../../src/core/bot-sessions.ts';
import { startApp, testConfig, type RunningApp } from '../../helpers/app.ts';
import { bayeux, bayeuxPost, handshake, login } from '../../helpers/bots.ts';

let server: RunningApp;
let cookie: string;

before(async () => {
  server = await startApp(testConfig({ server: { host: '127.0.0.1', port: 0, bodyLimitBytes: 4096 }, bots: { maxEventLoopDelayMs: 0 } }));
  ({ cookie } = await login(server.url));
});
after(() => server.close());

test('bodies that are not Bayeux messages are HTTP 400 with a text body', async () => {
  const cases: [string, string, RegExp][] = [
    ['{"channel": "/meta/handshake"', 'application/json', /not valid JSON/],
    ['42', 'application/json', /expected a JSON object or an array/],
    ['"hello"', 'application/json', /expected a JSON object or an array/],
    ['null', 'application/json', /expected a JSON object or an array/],
    ['[]', 'application/json', /array is empty/],
    [JSON.stringify(Array.from({ length: 101 }, () => ({ channel: '/meta/connect' }))), 'application/json', /more than 100 messages/],
    ['other=1', 'application/x-www-form-urlencoded', /no message field/],
    ['message=%7Bnope', 'application/x-www-form-urlencoded', /not valid JSON/],
    ['[{"channel":"/meta/handshake"}]', 'text/plain', /send Content-Type application\/json/],
  ];
  for (const [body, contentType, message] of cases) {
    const response = await bayeuxPost(server.url, cookie, body, { contentType, raw: true });
    assert.equal(response.status, 400, body.slice(0, 40));
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(await response.text(), message);
  }
});

test('cookies and the login are checked before the body: 412, 400 (cookie), 403 come first', async () => {
  const badBodies: [string, string][] = [
    ['{"channel": "/meta/handshake"', 'application/json'],
    ['[]', 'application/json'],
    ['other=1', 'application/x-www-form-urlencoded'],
    ['[{"channel":"/meta/handshake"}]', 'text/plain'],
    [JSON.stringify([{ channel: '/service/stream', data: 'x'.repeat(8000) }]), 'application/json'],
  ];
  const expired = await login(server.url);
  const sessionId = /API-Cookie=!([A-Za-z0-9_-]+)\./.exec(expired.cookie)?.[1];
  assert.ok(sessionId !== undefined, expired.cookie);
  await botSessionsOf(server.app.core).end(sessionId);
  const tampered = cookie.replace(/API-Cookie=!([A-Za-z0-9_-])/, (_whole, first: string) => `API-Cookie=!${first === 'A' ? 'B' : 'A'}`);
  assert.notEqual(tampered, cookie);
  const cases: [string | undefined, number, RegExp][] = [
    [undefined, 412, /RC_ERR_BOT_COOKIE_MISSING/],
    ['API-Cookie=!abc.def', 412, /RC_ERR_BOT_COOKIE_MISSING: cookie API-Route is missing/],
    [`${cookie}; Version=1`, 400, /RC_ERR_BOT_COOKIE_MALFORMED/],
    [tampered, 400, /RC_ERR_BOT_COOKIE_TAMPERED/],
    [expired.cookie, 403, /RC_ERR_BOT_SESSION_EXPIRED/],
  ];
  for (const [sent, status, text] of cases) {
    for (const [body, contentType] of badBodies) {
      const response = await bayeuxPost(server.url, sent, body, { contentType, raw: true });
      const what = `${String(sent).slice(0, 30)} + ${body.slice(0, 20)} (${contentType})`;
      assert.equal(response.status, status, what);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(await response.text(), text, what);
    }
  }
  // With a valid login the same bodies are the body's errors again.
  const response = await bayeuxPost(server.url, cookie, '[]', { raw: true });
  assert.equal(response.status, 400);
  assert.match(await response.text(), /RC_ERR_BAYEUX_BAD_REQUEST/);
});

test('an oversized body is 413 with a text body', async () => {
  const response = await bayeuxPost(server.url, cookie, [{ channel: '/service/stream', data: 'x'.repeat(8000) }]);
  assert.equal(response.status, 413);
  assert.match(await response.text(), /RC_ERR_HTTP_BODY_TOO_LARGE.*larger than 4096 bytes/, 'the code, and the limit (server.bodyLimitBytes)');
});

test('junk elements, missing channels and unknown meta channels get error replies in a 200', async () => {
  const clientId = await handshake(server.url, cookie);
  const replies = await bayeux(server.url, cookie, [
    5,
    'text',
    [1, 2],
    {},
    { channel: 17 },
    { channel: '/meta/nonsense', clientId, id: 'x' },
    { channel: '/meta/handshake', version: '1.0' },
    { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['websocket'] },
    { channel: '/meta/connect', clientId, connectionType: 'callback-polling' },
    { channel: '/meta/subscribe', clientId },
  ]);
  assert.deepEqual(replies.map((r) => r.error), [
    '400::bad_request',
    '400::bad_request',
    '400::bad_request',
    '400:channel:field_missing',
    '400:channel:field_missing',
    '404:/meta/nonsense:channel_unknown',
    '400:supportedConnectionTypes:field_missing',
    '400:websocket:connection_type',
    '400:callback-polling:connection_type',
    '400:subscription:field_missing',
  ]);
  assert.equal(replies[5]!.id, 'x');
});

test('a WebSocket upgrade on /bayeux is refused (400/404, never accepted) and the server stays up', async () => {
  const { port } = server;
  const status = await new Promise<number>((resolve, reject) => {
    const probe = httpRequest({
      host: '127.0.0.1',
      port,
      path: '/api/v1/bayeux',
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13', Cookie: cookie },
    });
    probe.on('response', (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    probe.on('upgrade', () => reject(new Error('the upgrade was accepted')));
    probe.on('error', reject);
    probe.end();
  });
  // 404 from the WebSocket gateway's upgrade handler (it serves only /app/{key}); 400 from
  // this door when no gateway listens for upgrades.
  assert.ok([400, 404].includes(status), `status ${status}`);
  assert.equal((await fetch(`${server.url}/test`)).status, 200);
});

test('cookie headers built from junk are 400/412, never a crash', async () => {
  const junk = ['=', ';;;', 'API-Cookie', 'API-Cookie=; API-Route=', 'API-Cookie=!x.y; API-Route=!x.y', `API-Cookie=${'!'.repeat(5000)}; API-Route=!a.b`, 'a=b c'];
  for (const header of junk) {
    const response = await bayeuxPost(server.url, header, [{ channel: '/meta/handshake' }]);
    assert.ok([400, 412].includes(response.status), `${header.slice(0, 30)} → ${response.status}`);
    await response.text();
  }
  assert.equal((await fetch(`${server.url}/test`)).status, 200);
});
