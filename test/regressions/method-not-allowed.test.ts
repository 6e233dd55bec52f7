/**
 * A path that exists answered with the wrong method gets 405 RC_ERR_HTTP_METHOD_NOT_ALLOWED
 * and an `Allow` header naming the methods the path has, on every door (REST, bot API,
 * ops, console, the metrics listener), before any signature or session check. A path
 * no route has stays 404 RC_ERR_HTTP_NOT_FOUND.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { freePort } from '../helpers/redis-server.ts';
import { consoleUsers } from '../console/console-helpers.ts';

const app = `/apps/${TEST_APP.id}`;

/** [method, path, the methods `Allow` must list]. */
const CASES: readonly [string, string, readonly string[]][] = [
  // REST (unsigned: the method is checked before the signature).
  ['PUT', `${app}/events`, ['POST']],
  ['GET', `${app}/events`, ['POST']],
  ['DELETE', `${app}/channels`, ['GET', 'HEAD']],
  ['POST', `${app}/channels`, ['GET', 'HEAD']],
  ['GET', `${app}/batch_events`, ['POST']],
  ['POST', `${app}/channels/presence-room1/users`, ['GET', 'HEAD']],
  ['PATCH', `${app}/channels/room1/history?limit=5`, ['GET', 'HEAD']],
  // Bot API.
  ['GET', '/api/v1/login', ['POST']],
  ['PUT', '/api/v1/bayeux', ['POST']],
  // A method no route of the server uses (PROPFIND: Fastify has no router tree for it) still gets the path's own methods.
  ['PROPFIND', `${app}/events`, ['POST']],
  ['PROPFIND', '/api/v1/login', ['POST']],
  ['QUERY', '/api/v1/bayeux', ['POST']],
  // Ops.
  ['POST', '/up', ['GET', 'HEAD']],
  ['DELETE', '/ready', ['GET', 'HEAD']],
  ['POST', '/stats', ['GET', 'HEAD']],
  // Console (no session: the method is checked before the guard).
  ['POST', '/console/api/overview', ['GET', 'HEAD']],
  ['GET', '/console/api/login', ['POST']],
];

function allowOf(response: Response): string[] {
  return (response.headers.get('allow') ?? '').split(',').map((method) => method.trim()).filter((method) => method !== '').sort();
}

describe('405 with Allow on every door', () => {
  let running: RunningApp;
  let metricsPort: number;
  before(async () => {
    metricsPort = await freePort();
    running = await startApp(testConfig({ console: { users: await consoleUsers() }, metrics: { port: metricsPort } }));
  });
  after(() => running.close());

  for (const [method, path, allowed] of CASES) {
    test(`${method} ${path} → 405, Allow: ${allowed.join(', ')}`, async () => {
      const response = await fetch(`${running.url}${path}`, { method });
      assert.equal(response.status, 405, `${method} ${path}: ${response.status}`);
      assert.deepEqual(allowOf(response), [...allowed].sort());
      if (!path.startsWith('/api/v1/bayeux')) {
        const body = (await response.json()) as Record<string, unknown>;
        assert.equal(body.code, 'RC_ERR_HTTP_METHOD_NOT_ALLOWED');
        assert.equal(body.error, 'Method Not Allowed');
        assert.match(String(body.message), new RegExp(`^${method} is not allowed here; use `));
        assert.equal(typeof body.request_id, 'string');
      } else {
        await response.arrayBuffer();
      }
    });
  }

  test('with metrics.port set, /metrics is not a route of the main port: 404', async () => {
    const response = await fetch(`${running.url}/metrics`, { method: 'POST' });
    assert.equal(response.status, 404);
    assert.equal(((await response.json()) as { code: string }).code, 'RC_ERR_HTTP_NOT_FOUND');
  });

  test('the metrics listener (metrics.port) answers 405 with Allow too, in the common format', async () => {
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { method: 'POST' });
    assert.equal(response.status, 405);
    assert.deepEqual(allowOf(response), ['GET', 'HEAD']);
    assert.equal(((await response.json()) as { code: string }).code, 'RC_ERR_HTTP_METHOD_NOT_ALLOWED');
    const missing = await fetch(`http://127.0.0.1:${metricsPort}/nothing`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { code: string }).code, 'RC_ERR_HTTP_NOT_FOUND');
  });

  test('a path no route has stays 404 RC_ERR_HTTP_NOT_FOUND, without Allow', async () => {
    for (const [method, path] of [['GET', `${app}/nothing-here`], ['POST', '/no/such/path'], ['DELETE', `${app}/events/extra`]] as const) {
      const response = await fetch(`${running.url}${path}`, { method });
      assert.equal(response.status, 404, `${method} ${path}`);
      assert.equal(response.headers.get('allow'), null);
      assert.equal(((await response.json()) as { code: string }).code, 'RC_ERR_HTTP_NOT_FOUND');
    }
  });

  test('the right method still reaches the signature check (401 unsigned)', async () => {
    const response = await fetch(`${running.url}${app}/channels`);
    assert.equal(response.status, 401);
    await response.arrayBuffer();
  });
});
