/** GET /checkip honours X-Forwarded-For only from `server.trustedProxies`. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startApp, testConfig } from '../../helpers/app.ts';

test('behind a trusted proxy, /checkip answers the forwarded client address', async () => {
  const server = await startApp(testConfig({ server: { host: '127.0.0.1', port: 0, trustedProxies: ['127.0.0.1'] } }));
  try {
    const response = await fetch(`${server.url}/checkip`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    assert.deepEqual(await response.json(), { ip: '203.0.113.9' });
    const direct = await fetch(`${server.url}/checkip`);
    assert.deepEqual(await direct.json(), { ip: '127.0.0.1' });
  } finally {
    await server.close();
  }
});
