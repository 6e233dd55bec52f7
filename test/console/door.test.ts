/**
 * The console door over HTTP (no browser): off without an admin user, session cookies,
 * the guard's refusals, audit lines, static files' caching and security headers, the
 * request-id lookup, and the sampled tail.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { buildApp } from '../../src/app.ts';
import { buildConfig } from '../../src/config/load.ts';
import { verifyPasswordHash } from '../../src/doors/console/credentials.ts';
import { LoginLimiter } from '../../src/doors/console/login-limiter.ts';
import { TailHub, type TailBatch } from '../../src/doors/console/tail.ts';
import { startApp, TEST_APP, testConfig, type RunningApp } from '../helpers/app.ts';
import { apiLogin, consoleUsers, USERS } from './console-helpers.ts';

/** A tiny stand-in for dist/console, so these tests need no bundler run. */
function standInBuild(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rc-console-assets-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>console</title><script type="module" src="./assets/index-AbCdEf12.js"></script>');
  writeFileSync(join(dir, 'assets', 'index-AbCdEf12.js'), 'console.log("hi")'.repeat(100));
  return dir;
}

describe('console door', () => {
  let server: RunningApp;
  const lines: Record<string, unknown>[] = [];
  before(async () => {
    const assetsDir = standInBuild();
    // One webhook endpoint (never reached: nothing in these tests occupies a channel) so the overview has a queue to report.
    const config = testConfig({ log: { level: 'info' }, console: { users: await consoleUsers() }, apps: [{ ...TEST_APP, webhooks: [{ url: 'http://127.0.0.1:9/hooks', event_types: ['channel_occupied'] }] }] });
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const app = await buildApp(config, { logger: pino({ level: 'info' }, sink), consoleAssetsDir: assetsDir });
    const url = await app.listen();
    server = { app, url, port: Number(new URL(url).port), config, close: () => app.close() };
  });
  after(() => server.close());

  test('the session cookie is HttpOnly, SameSite=Strict, scoped to the console path (and not Secure over plain HTTP)', async () => {
    const { setCookie } = await apiLogin(server.url);
    // The cookie lives as long as a session may (24 h): the server ends an idle one, and a busy one is not cut at login + idle.
    assert.match(setCookie, /^rc_console=[A-Za-z0-9_-]{43}; Path=\/console; Max-Age=86400; HttpOnly; SameSite=Strict$/);
  });

  test('every API route but login needs a session; logout ends it', async () => {
    const anonymous = await fetch(`${server.url}/console/api/overview`);
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as { code: string }).code, 'RC_ERR_CONSOLE_UNAUTHENTICATED');
    const { cookie, csrf } = await apiLogin(server.url);
    assert.equal((await fetch(`${server.url}/console/api/overview`, { headers: { cookie } })).status, 200);
    const out = await fetch(`${server.url}/console/api/logout`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie') ?? '', /rc_console=; Path=\/console; Max-Age=0/);
    assert.equal((await fetch(`${server.url}/console/api/overview`, { headers: { cookie } })).status, 401);
  });

  test('every console reply carries the security headers: a 404 of the API or of a file, and the redirect too', async () => {
    for (const [path, status] of [['/console/api/nope', 404], ['/console/assets/nope.js', 404], ['/console', 302]] as const) {
      const answer = await fetch(`${server.url}${path}`, { redirect: 'manual' });
      assert.equal(answer.status, status, path);
      await answer.arrayBuffer();
      assert.match(answer.headers.get('content-security-policy') ?? '', /default-src/, `${path}: CSP`);
      assert.equal(answer.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(answer.headers.get('referrer-policy'), 'no-referrer', path);
      if (path.startsWith('/console/api/')) assert.equal(answer.headers.get('cache-control'), 'no-store', path);
    }
  });

  test('an open event stream ends within seconds of a logout (it sends no more once the session is gone)', async () => {
    const { cookie, csrf } = await apiLogin(server.url);
    const controller = new AbortController();
    const stream = await fetch(`${server.url}/console/api/overview/stream`, { headers: { cookie }, signal: controller.signal });
    assert.equal(stream.status, 200);
    const out = await fetch(`${server.url}/console/api/logout`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(out.status, 204);
    const loggedOutAt = Date.now();
    const reader = stream.body!.getReader();
    const timer = setTimeout(() => controller.abort(), 15_000);
    let text = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
    } finally {
      clearTimeout(timer);
    }
    assert.match(text, /event: session/, 'told the session ended');
    assert.ok(Date.now() - loggedOutAt < 8000, `ended ${Date.now() - loggedOutAt} ms after the logout`);
  });

  test('the overview reports the webhook queue depth (a number, not "not reported")', async () => {
    const { cookie } = await apiLogin(server.url);
    const overview = (await (await fetch(`${server.url}/console/api/overview`, { headers: { cookie } })).json()) as { queues: { push: unknown; webhooks: unknown } };
    assert.equal(typeof overview.queues.webhooks, 'number');
  });

  test('a wrong password and an unknown user get the same 401; neither is told which', async () => {
    for (const user of [{ name: 'admin', password: 'nope' }, { name: 'nobody', password: 'nope' }]) {
      const response = await fetch(`${server.url}/console/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(user) });
      assert.equal(response.status, 401);
      const body = (await response.json()) as { code: string; message: string };
      assert.equal(body.code, 'RC_ERR_CONSOLE_LOGIN_FAILED');
      assert.doesNotMatch(body.message, /nobody|admin/);
    }
  });

  test('a login posted as a form (a cross-site form) is refused', async () => {
    const response = await fetch(`${server.url}/console/api/login`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(USERS.admin) });
    assert.notEqual(response.status, 200);
  });

  test('actions write an audit line (who, what, target, outcome) and never a secret', async () => {
    const { cookie, csrf } = await apiLogin(server.url);
    const response = await fetch(`${server.url}/console/api/spaces/acme/rooms/lobby/code`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'issue' }),
    });
    assert.equal(response.status, 200);
    const { code } = (await response.json()) as { code: string };
    assert.ok(code.length >= 24);
    const audit = lines.filter((line) => line.module === 'console-audit').map((line) => line.audit as Record<string, unknown>);
    assert.ok(audit.some((entry) => entry.action === 'login' && entry.user === 'admin' && entry.outcome === 'ok'));
    const issued = audit.find((entry) => entry.action === 'room.code.issue');
    assert.deepEqual({ user: issued?.user, role: issued?.role, target: issued?.target, outcome: issued?.outcome }, { user: 'admin', role: 'admin', target: 'acme/lobby', outcome: 'ok' });
    const everything = JSON.stringify(lines);
    for (const secret of [code, USERS.admin.password, csrf, cookie.split('=')[1]!]) assert.ok(!everything.includes(secret), 'a secret reached the log');
  });

  test('a read-only user is refused every action, and the refusal is audited', async () => {
    const { cookie, csrf } = await apiLogin(server.url, USERS.viewer);
    for (const [path, body] of [
      ['spaces/acme/stop', {}],
      ['spaces/acme/bots/helper-bot/token', { action: 'expire' }],
      ['apps/app-1/channel/purge', { channel: 'x', confirm: 'x' }],
    ] as const) {
      const response = await fetch(`${server.url}/console/api/${path}`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(response.status, 403, path);
      assert.equal(((await response.json()) as { code: string }).code, 'RC_ERR_CONSOLE_FORBIDDEN');
    }
    assert.ok(lines.some((line) => (line.audit as { user?: string; outcome?: string } | undefined)?.user === 'viewer' && (line.audit as { outcome: string }).outcome === 'refused'));
  });

  test('an error reply is found by its request id', async () => {
    const failed = await fetch(`${server.url}/apps/app-1/events?auth_key=nope`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const requestId = failed.headers.get('x-request-id')!;
    const { cookie } = await apiLogin(server.url);
    const found = await fetch(`${server.url}/console/api/requests/${requestId}`, { headers: { cookie } });
    assert.equal(found.status, 200);
    const record = (await found.json()) as { status: number; code: string; path: string };
    assert.equal(record.status, failed.status);
    assert.match(record.code, /^RC_ERR_AUTH_/);
    assert.equal(record.path, '/apps/app-1/events', 'the query (signatures) is never kept');
    assert.equal((await fetch(`${server.url}/console/api/requests/no-such-id`, { headers: { cookie } })).status, 404);
  });

  test('console replies carry a strict CSP and no caching of API answers', async () => {
    const { cookie } = await apiLogin(server.url);
    const response = await fetch(`${server.url}/console/api/session`, { headers: { cookie } });
    assert.match(response.headers.get('content-security-policy') ?? '', /default-src 'self'; script-src 'self'.*frame-ancestors 'none'/);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    assert.equal(response.headers.get('x-frame-options'), 'DENY');
  });
});

describe('console static files', () => {
  let server: RunningApp;
  before(async () => {
    const config = testConfig({ console: { users: await consoleUsers() } });
    const app = await buildApp(config, { consoleAssetsDir: standInBuild() });
    const url = await app.listen();
    server = { app, url, port: Number(new URL(url).port), config, close: () => app.close() };
  });
  after(() => server.close());

  test('index.html is revalidated, hashed files are immutable for a year, compressed, with ETags', async () => {
    const redirect = await fetch(`${server.url}/console`, { redirect: 'manual' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('location'), '/console/');
    const index = await fetch(`${server.url}/console/`);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    assert.match(index.headers.get('content-type') ?? '', /text\/html/);
    const script = await fetch(`${server.url}/console/assets/index-AbCdEf12.js`, { headers: { 'accept-encoding': 'br' } });
    assert.equal(script.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(script.headers.get('content-encoding'), 'br');
    assert.equal(await script.text(), 'console.log("hi")'.repeat(100));
    const again = await fetch(`${server.url}/console/assets/index-AbCdEf12.js`, { headers: { 'if-none-match': script.headers.get('etag')! } });
    assert.equal(again.status, 304);
    assert.equal((await fetch(`${server.url}/console/assets/nope.js`)).status, 404);
  });
});

test('behind a trusted TLS proxy the session cookie is Secure', async () => {
  const server = await startApp(testConfig({ server: { host: '127.0.0.1', port: 0, trustedProxies: ['127.0.0.1'] }, console: { users: await consoleUsers() } }));
  try {
    const response = await fetch(`${server.url}/console/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https' },
      body: JSON.stringify(USERS.admin),
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('set-cookie') ?? '', /; HttpOnly; SameSite=Strict; Secure$/);
  } finally {
    await server.close();
  }
});

test('the console is off without an admin user: no route, no hooks', async () => {
  const server = await startApp(testConfig({ console: { users: [{ name: 'viewer', role: 'readonly', token: USERS.viewer.password }] } }));
  try {
    assert.equal((await fetch(`${server.url}/console/`)).status, 404);
    assert.equal((await fetch(`${server.url}/console/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 404);
  } finally {
    await server.close();
  }
});

test('scripts/console-password.mjs prints a hash the console accepts', async () => {
  const root = new URL('../../', import.meta.url).pathname;
  const hash = execFileSync(process.execPath, [`${root}scripts/console-password.mjs`], { input: 'hunter2 and more\n' }).toString().trim();
  assert.match(hash, /^scrypt\$32768\$8\$1\$/);
  assert.equal(await verifyPasswordHash(hash, 'hunter2 and more'), true);
  assert.equal(await verifyPasswordHash(hash, 'hunter2'), false);
});

test('login limits count per address and per name within a minute', () => {
  let now = 0;
  const limiter = new LoginLimiter(2, () => now);
  assert.equal(limiter.attempt('1.1.1.1', 'a'), 0);
  assert.equal(limiter.attempt('1.1.1.1', 'b'), 0);
  assert.equal(limiter.attempt('1.1.1.1', 'c'), 60, 'third from one address');
  assert.equal(limiter.attempt('2.2.2.2', 'a'), 0);
  assert.ok(limiter.attempt('3.3.3.3', 'a') > 0, 'third for one name');
  now = 60_000;
  assert.equal(limiter.attempt('1.1.1.1', 'd'), 0, 'a new window');
});

test('login limits: refused attempts under new names do not push the limited windows out of memory', () => {
  let now = 0;
  const limiter = new LoginLimiter(5, () => now);
  for (let i = 0; i < 5; i++) assert.equal(limiter.attempt('6.6.6.6', 'alice'), 0);
  assert.ok(limiter.attempt('6.6.6.6', 'alice') > 0, 'the sixth guess is refused');
  // 10,000 already-refused attempts under new names, from the same address, within the minute.
  for (let i = 0; i < 10_000; i++) {
    now += 1;
    assert.ok(limiter.attempt('6.6.6.6', `filler-${i}`) > 0);
  }
  assert.ok(limiter.attempt('6.6.6.6', 'alice') > 0, 'still refused: the address window was kept');
  assert.ok(limiter.attempt('7.7.7.7', 'alice') > 0, 'and the name window too');
});

test('the tail sends at most N events per page per second, in serial order, and counts the rest', async () => {
  const server = await startApp(testConfig());
  try {
    const tail = new TailHub(server.app.core, 3);
    const batches: TailBatch[] = [];
    const stop = tail.watch('app-1', 'hot', (batch) => batches.push(batch));
    const app = server.app.core.apps.requireEnabled('app-1');
    await server.app.core.publish(app, Array.from({ length: 8 }, (_, i) => ({ name: `e${i}`, channels: ['hot'], data: String(i), origin: 'rest' as const })));
    const deadline = Date.now() + 5000;
    while (batches.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    stop();
    assert.equal(tail.size, 0);
    assert.equal(batches[0]!.events.length, 3);
    assert.deepEqual(batches[0]!.events.map((e) => e.door), ['rest', 'rest', 'rest']);
    assert.ok(batches[0]!.events[0]!.serial < batches[0]!.events[2]!.serial);
    assert.equal(batches[0]!.skipped, 5);
  } finally {
    await server.close();
  }
});

test('ROOMCAST_CONSOLE_ADMIN_TOKEN / _PASSWORD_HASH add (or replace) the admin user from the environment', () => {
  const raw = { apps: [{ id: 'a', key: 'k', secret: 's' }], console: { users: [{ name: 'admin', role: 'readonly', token: 'x'.repeat(30) }] } };
  const token = 't'.repeat(32);
  const fromToken = buildConfig(raw, { ROOMCAST_CONSOLE_ADMIN_TOKEN: token });
  assert.deepEqual(fromToken.console.users, [{ name: 'admin', role: 'admin', token }]);
  const hash = `scrypt$32768$8$1$${'s'.repeat(22)}$${'h'.repeat(43)}`;
  assert.deepEqual(buildConfig({ apps: raw.apps }, { ROOMCAST_CONSOLE_ADMIN_PASSWORD_HASH: hash }).console.users, [{ name: 'admin', role: 'admin', passwordHash: hash }]);
  assert.deepEqual(buildConfig({ apps: raw.apps }).console.users, []);
  assert.throws(() => buildConfig({ apps: raw.apps }, { ROOMCAST_CONSOLE_ADMIN_TOKEN: 'short' }), /console\.users\.0\.token/);
});
