/**
 * Route schemas compiled on a route's first request (src/ops/route-validators.ts): every
 * route's schemas compile, and a refusal through a validator compiled on demand carries
 * Fastify's errors, on its first request and after.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { compilePendingValidators } from '../../src/ops/route-validators.ts';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { signedCall } from '../helpers/signed-request.ts';

let running: RunningApp;

before(async () => {
  running = await startApp(testConfig());
});

after(async () => {
  await running.close();
});

test('a refusal by a validator compiled on its first request names the field, then and after', async () => {
  const history = `/apps/${TEST_APP.id}/channels/watched/history`;
  for (let round = 0; round < 2; round++) {
    const refused = await signedCall(running.url, 'GET', history, { params: { limit: '123456789' } });
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.json.code, 'RC_ERR_HTTP_VALIDATION');
    assert.match(refused.json.message ?? '', /limit/);
  }
  const accepted = await signedCall(running.url, 'GET', history, { params: { limit: '5' } });
  assert.equal(accepted.status, 200, accepted.text);
});

test('every route schema of the app compiles', () => {
  // Routes register their schemas while the app is built; the purge route's are compiled already.
  const compiled = compilePendingValidators();
  assert.ok(compiled >= 10, `${compiled} route schema parts compiled`);
  assert.equal(compilePendingValidators(), 0);
});
