/**
 * Issue 12, "memory backend restarted, clients reconnect with last_serial": 5 published,
 * restart, 7 published, subscribe with the third serial → the client got after-4..after-7
 * as a clean recovery. A restarted memory backend gives every stream a new epoch, so the
 * old serial is refused (`roomcast:recovery_failed`, `epoch_changed`), and so is a
 * history cursor from the previous process.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { RawPusherClient } from '../helpers/ws-client.ts';

const CHANNEL = 'restart-room';
const PATH = `/apps/${TEST_APP.id}`;
const config = testConfig({ apps: [{ ...TEST_APP, history: { maxCount: 100, maxAgeSec: 0 } }] });
let node: RunningApp | null = null;

after(async () => {
  await node?.close();
});

async function publish(data: string): Promise<string> {
  const reply = await signedCall(node!.url, 'POST', `${PATH}/events`, { body: { name: 'chat', channel: CHANNEL, data } });
  assert.equal(reply.status, 200, reply.text);
  const serial = (reply.json.message_serial ?? (reply.json.message_serials as Record<string, string> | undefined)?.[CHANNEL]) as string | undefined;
  assert.ok(serial, reply.text);
  return serial;
}

describe('issue 12: memory backend restarted, clients recovering by serial', () => {
  test('5 published, restart, 7 published, last_serial of the third → recovery_failed, not after-4..after-7', async () => {
    node = await startApp(config);
    const before: string[] = [];
    for (let i = 1; i <= 5; i++) before.push(await publish(`before-${i}`));
    const page = await signedCall(node.url, 'GET', `${PATH}/channels/${CHANNEL}/history`, { params: { limit: '2', direction: 'oldest_first' } });
    const cursor = page.json.next_cursor as string;
    assert.ok(cursor, page.text);
    await node.close();
    node = await startApp(config);
    const afterRestart: string[] = [];
    for (let i = 1; i <= 7; i++) afterRestart.push(await publish(`after-${i}`));
    for (const serial of afterRestart) assert.ok(!before.includes(serial), `serial ${serial} was issued before the restart to another message`);

    for (const protocol of ['protocol=2&client=test&version=1.0', 'protocol=7&client=test&version=1.0']) {
      const client = await RawPusherClient.connect(node.port, TEST_APP.key, protocol);
      client.send({ event: 'pusher:subscribe', data: { channel: CHANNEL, last_serial: before[2] } });
      const failed = await client.nextEvent('roomcast:recovery_failed', CHANNEL);
      const failure = JSON.parse(failed.data as string) as { code?: string; reason: string; last_serial: string };
      assert.equal(failure.code, 'epoch_changed', protocol);
      assert.equal(failure.last_serial, before[2]);
      // A live message after the failure arrives; nothing before it was replayed.
      await publish('live');
      const live = await client.nextEvent('chat', CHANNEL);
      assert.equal(live.data, 'live', `${protocol}: no after-4..after-7 replayed as a recovery`);
      client.close();
    }

    const stale = await signedCall(node.url, 'GET', `${PATH}/channels/${CHANNEL}/history`, { params: { limit: '2', direction: 'oldest_first', cursor } });
    assert.equal(stale.status, 409, stale.text);
    assert.equal(stale.json.code, 'RC_ERR_HISTORY_EPOCH_MISMATCH');
  });
});
