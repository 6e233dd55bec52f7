/**
 * While a node shuts down (its WebSocket clients drain for up to two seconds), HTTP
 * requests that still arrive used to get Fastify's own 503 body
 * (`{"error","message","statusCode"}`), not the common error format. Now they get
 * RC_ERR_HTTP_SHUTTING_DOWN with a request id and Retry-After.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { startApp, testConfig, TEST_APP } from '../helpers/app.ts';
import { RawPusherClient } from '../helpers/ws-client.ts';
import { signQuery } from '../../src/doors/rest/signature.ts';

test('requests during shutdown get 503 RC_ERR_HTTP_SHUTTING_DOWN in the common format', async () => {
  const running = await startApp(testConfig());
  const slow = await RawPusherClient.connect(running.port);
  // A client that stops reading never answers the close frame: the ws door waits for it.
  (slow.ws as unknown as { _socket: Socket })._socket.pause();
  const closed = running.close();
  try {
    const path = `/apps/${TEST_APP.id}/channels`;
    for (const url of [`${running.url}/up`, `${running.url}${path}?${signQuery(TEST_APP, 'GET', path)}`]) {
      const response = await fetch(url);
      const json = (await response.json()) as Record<string, unknown>;
      assert.equal(response.status, 503, JSON.stringify(json));
      assert.equal(json.code, 'RC_ERR_HTTP_SHUTTING_DOWN');
      assert.equal(typeof json.request_id, 'string');
      assert.equal(response.headers.get('retry-after'), '5');
    }
  } finally {
    await closed;
  }
});
