/**
 * Close reasons are at most 123 bytes (RFC 6455); `ws.close` throws past that. Error
 * messages echo client text, so a multi-byte app key in the URL, or the termination of
 * a user whose id is multi-byte, used to throw inside the upgrade callback or the bus
 * handler and crash the whole process.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import { closeReason } from '../../src/doors/ws/close-codes.ts';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { RawPusherClient } from '../helpers/ws-client.ts';

let running: RunningApp;
const faults: unknown[] = [];
const onFault = (error: unknown): void => void faults.push(error);

before(async () => {
  process.on('uncaughtException', onFault);
  running = await startApp(testConfig());
});

after(async () => {
  await running.close();
  process.off('uncaughtException', onFault);
});

test('closeReason keeps reasons within 123 bytes, whole characters only', () => {
  assert.equal(closeReason('short'), 'short');
  for (const text of ['日'.repeat(200), '\u{1F600}'.repeat(100), `a${'é'.repeat(200)}`, 'x'.repeat(500)]) {
    const reason = closeReason(text);
    assert.ok(Buffer.byteLength(reason) <= 123, `${Buffer.byteLength(reason)} bytes`);
    assert.ok(reason.endsWith('…'));
    assert.equal(Buffer.from(reason).toString('utf8'), reason, 'no broken surrogate pair');
  }
});

test('an unknown multi-byte app key is refused with 4001; the process lives on', async () => {
  const client = await RawPusherClient.connect(running.port, encodeURIComponent('日'.repeat(60)));
  const { code } = await client.closed;
  assert.equal(code, 4001);
  assert.equal((client.frames[0]?.data as { rc_code?: string }).rc_code, 'RC_ERR_WS_UNKNOWN_APP_KEY');
  assert.deepEqual(faults, []);
  assert.equal((await fetch(`${running.url}/up`)).status, 200);
});

test('terminating a user whose id is multi-byte closes the socket with 4009; the process lives on', async () => {
  const client = await RawPusherClient.connect(running.port);
  const userId = '\u{1F600}'.repeat(60);
  const userData = JSON.stringify({ id: userId });
  const signature = createHmac('sha256', TEST_APP.secret).update(`${client.socketId}::user::${userData}`).digest('hex');
  client.send({ event: 'pusher:signin', data: { user_data: userData, auth: `${TEST_APP.key}:${signature}` } });
  await client.nextEvent('pusher:signin_success');
  const reply = await signedCall(running.url, 'POST', `/apps/${TEST_APP.id}/users/${encodeURIComponent(userId)}/terminate_connections`, { body: {} });
  assert.equal(reply.status, 200, reply.text);
  assert.equal((await client.closed).code, 4009);
  assert.deepEqual(faults, []);
  assert.equal((await fetch(`${running.url}/up`)).status, 200);
});
