/**
 * When 415 RC_ERR_HTTP_BAD_CONTENT_TYPE happens, as docs/errors.md states it: only on the
 * console API, for a body whose Content-Type is neither application/json nor text/plain,
 * or a body with no Content-Type. The REST API reads any content type as JSON, and the bot
 * login reads any content type too: neither answers 415.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { consoleUsers } from '../console/console-helpers.ts';

let running: RunningApp;
before(async () => {
  running = await startApp(testConfig({ console: { users: await consoleUsers() } }));
});
after(() => running.close());

test('REST: a signed POST /events sent as text/plain, application/xml or with no Content-Type is read as JSON (200)', async () => {
  for (const contentType of ['text/plain', 'application/xml', null]) {
    const result = await signedCall(running.url, 'POST', `/apps/${TEST_APP.id}/events`, { body: { name: 'e', channel: 'ct', data: 'x' }, contentType });
    assert.equal(result.status, 200, `${String(contentType)}: ${result.text}`);
  }
});

test('bot login: any Content-Type is read; never 415', async () => {
  const response = await fetch(`${running.url}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: Buffer.from('{"room":"LOBBY-CODE","token":"BOT-TOKEN"}') });
  assert.equal(response.status, 200, await response.clone().text());
  await response.arrayBuffer();
});

test('console API: a body typed other than JSON or text, or untyped, is 415; text/plain is read and then validated (400)', async () => {
  const post = (headers: Record<string, string>): Promise<Response> =>
    fetch(`${running.url}/console/api/login`, { method: 'POST', headers, body: Buffer.from('{"name":"admin","password":"x"}') });
  for (const headers of [{ 'content-type': 'application/xml' }, {}] as Record<string, string>[]) {
    const response = await post(headers);
    assert.equal(response.status, 415, JSON.stringify(headers));
    assert.equal(((await response.json()) as { code: string }).code, 'RC_ERR_HTTP_BAD_CONTENT_TYPE');
  }
  const text = await post({ 'content-type': 'text/plain' });
  assert.equal(text.status, 400);
  assert.equal(((await text.json()) as { code: string }).code, 'RC_ERR_HTTP_VALIDATION');
});
