/**
 * The message model over the signed REST API (issue 4), with the official `pusher`
 * SDK publishing and reading history: serials in publish replies, history paging with
 * cursors, state/purge/reset, versioned messages, annotations, presence history.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Pusher from 'pusher';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../../helpers/app.ts';
import { signedCall } from '../../helpers/signed-request.ts';

let node: RunningApp;
let pusher: Pusher;

before(async () => {
  node = await startApp(testConfig({ apps: [{ ...TEST_APP, history: { maxCount: 5000, maxAgeSec: 0 } }] }));
  pusher = new Pusher({ appId: TEST_APP.id, key: TEST_APP.key, secret: TEST_APP.secret, host: '127.0.0.1', port: String(node.port), useTLS: false });
});
after(async () => {
  await node?.close();
});

const base = `/apps/${TEST_APP.id}/channels`;
const call = (method: string, path: string, body?: unknown, params?: Record<string, string>) =>
  signedCall(node.url, method, `${base}/${path}`, { ...(body === undefined ? {} : { body }), ...(params ? { params } : {}) });

async function trigger(channel: string, data: string): Promise<string> {
  const response = await pusher.trigger(channel, 'chat', data);
  const body = (await response.json()) as { message_serial?: string; message_serials?: Record<string, string> };
  const serial = body.message_serial ?? body.message_serials?.[channel];
  assert.ok(serial, `publish reply names the serial: ${JSON.stringify(body)}`);
  return serial;
}

describe('message model over REST', () => {
  test('history pages with cursors through the pusher SDK; tampered cursors are 400', async () => {
    const serials: string[] = [];
    for (let i = 0; i < 5; i++) serials.push(await trigger('rest-history', `m${i}`));
    const first = await pusher.get({ path: '/channels/rest-history/history', params: { limit: 2 } });
    assert.equal(first.status, 200);
    const page = (await first.json()) as { items: { serial: string; data: string }[]; has_more: boolean; next_cursor: string };
    assert.deepEqual(page.items.map((i) => i.data), ['m4', 'm3']);
    assert.equal(page.has_more, true);
    const second = (await (await pusher.get({ path: '/channels/rest-history/history', params: { limit: 10, cursor: page.next_cursor } })).json()) as typeof page;
    assert.deepEqual(second.items.map((i) => i.serial), serials.slice(0, 3).reverse());
    assert.equal(second.has_more, false);
    const forged = await call('GET', 'rest-history/history', undefined, { cursor: `${page.next_cursor.slice(0, -3)}abc` });
    assert.equal(forged.status, 400);
    assert.equal(forged.json.code, 'RC_ERR_HISTORY_BAD_CURSOR');
    const mismatched = await call('GET', 'rest-history/history', undefined, { cursor: page.next_cursor, direction: 'oldest_first' });
    assert.equal(mismatched.json.code, 'RC_ERR_HISTORY_BAD_CURSOR');
    const badLimit = await call('GET', 'rest-history/history', undefined, { limit: '1001' });
    assert.equal(badLimit.status, 400);
    assert.equal(badLimit.json.code, 'RC_ERR_HISTORY_INVALID_QUERY');
  });

  test('history state, purge and reset need confirm_channel', async () => {
    await trigger('rest-ops', 'x');
    const state = await call('GET', 'rest-ops/history/state');
    assert.equal(state.status, 200);
    assert.equal(state.json.retained_count, 1);
    const refused = await call('POST', 'rest-ops/history/purge', { confirm_channel: 'other' });
    assert.equal(refused.status, 400);
    assert.equal(refused.json.code, 'RC_ERR_HISTORY_CONFIRM_MISMATCH');
    const purged = await call('POST', 'rest-ops/history/purge', { confirm_channel: 'rest-ops' });
    assert.equal(purged.status, 200);
    assert.equal((purged.json.state as { retained_count: number }).retained_count, 0);
    const reset = await call('POST', 'rest-ops/history/reset', { confirm_channel: 'rest-ops' });
    assert.equal(reset.status, 200);
    assert.equal(reset.json.reset, true);
  });

  test('a purge takes edited and annotated messages with it: their content is gone, not just unlisted, and they take no change', async () => {
    for (const mode of ['all', 'before_serial'] as const) {
      const channel = `rest-purge-${mode}`;
      const serial = await trigger(channel, 'secret personal data');
      assert.equal((await call('POST', `${channel}/messages/${serial}/update`, { data: 'secret personal data v2' })).status, 200);
      assert.equal((await call('POST', `${channel}/messages/${serial}/annotations`, { type: 'reactions:distinct.v1', name: 'like', client_id: 'u1' })).status, 200);
      const later = await trigger(channel, 'kept');
      const body = mode === 'all' ? { confirm_channel: channel } : { confirm_channel: channel, mode, before_serial: later };
      assert.equal((await call('POST', `${channel}/history/purge`, body)).status, 200);
      for (const path of [`messages/${serial}`, `messages/${serial}/versions`, `messages/${serial}/annotations`]) {
        const read = await call('GET', `${channel}/${path}`);
        assert.equal(read.status, 404, `${mode}: GET ${path} after the purge: ${read.text}`);
        assert.equal(read.json.code, 'RC_ERR_MESSAGE_NOT_FOUND');
        assert.doesNotMatch(read.text, /secret personal data/);
      }
      const changed = await call('POST', `${channel}/messages/${serial}/append`, { data: '!' });
      assert.equal(changed.status, 404, `${mode}: an append to a purged message: ${changed.text}`);
      assert.doesNotMatch((await call('GET', `${channel}/history`)).text, /secret personal data/);
    }
  });

  test('change and annotation bodies: an unknown field is refused, never dropped; types are checked, never coerced', async () => {
    const serial = await trigger('rest-bodies', 'text');
    const cases: [string, unknown, number, string][] = [
      [`messages/${serial}/update`, { data: 'x', desciption: 'typo' }, 400, 'RC_ERR_HTTP_UNKNOWN_FIELD'],
      [`messages/${serial}/update`, { data: 'x', client_id: 5 }, 400, 'RC_ERR_MESSAGE_INVALID_BODY'],
      [`messages/${serial}/update`, { data: 'x', metadata: [1] }, 400, 'RC_ERR_MESSAGE_INVALID_BODY'],
      [`messages/${serial}/append`, { data: 5 }, 400, 'RC_ERR_MESSAGE_INVALID_BODY'],
      [`messages/${serial}/annotations`, { type: 'reactions:total.v1', idempotency_key: 'k1' }, 400, 'RC_ERR_HTTP_UNKNOWN_FIELD'],
      [`messages/${serial}/annotations`, { type: 'reactions:distinct.v1', name: 'like', client_id: 5 }, 400, 'RC_ERR_ANNOTATION_INVALID'],
      [`messages/${serial}/annotations`, { name: 'like' }, 400, 'RC_ERR_ANNOTATION_INVALID_TYPE'],
    ];
    for (const [path, body, status, code] of cases) {
      const answer = await call('POST', `rest-bodies/${path}`, body);
      assert.equal(answer.status, status, `${path} ${JSON.stringify(body)}: ${answer.text}`);
      assert.equal(answer.json.code, code, `${path} ${JSON.stringify(body)}`);
    }
    const state = await call('GET', `rest-bodies/messages/${serial}`);
    assert.equal(state.json.data, 'text', 'nothing was changed');
    assert.deepEqual(state.json.summary, {}, 'nothing was annotated');
  });

  test('update, append, delete, versions, idempotent replay and conflicts', async () => {
    const serial = await trigger('rest-versions', 'Hello');
    const updated = await call('POST', `rest-versions/messages/${serial}/update`, { data: 'Hello,', description: 'typo', client_id: 'ann', idempotency_key: 'edit-1' });
    assert.equal(updated.status, 200);
    assert.equal(updated.json.duplicate, false);
    const replay = await call('POST', `rest-versions/messages/${serial}/update`, { data: 'Hello,', description: 'typo', client_id: 'ann', op_id: 'edit-1' });
    assert.deepEqual(replay.json, { ...updated.json, duplicate: true });
    const conflict = await call('POST', `rest-versions/messages/${serial}/append`, { data: 'x', idempotency_key: 'edit-1' });
    assert.equal(conflict.status, 400);
    assert.equal(conflict.json.code, 'RC_ERR_IDEMPOTENCY_CONFLICT');
    const appended = await call('POST', `rest-versions/messages/${serial}/append`, { data: ' world' });
    assert.equal(appended.json.data, 'Hello, world');
    const state = await call('GET', `rest-versions/messages/${serial}`);
    assert.equal(state.json.data, 'Hello, world');
    assert.equal(state.json.deleted, false);
    const versions = await call('GET', `rest-versions/messages/${serial}/versions`);
    assert.deepEqual((versions.json.items as { action: string }[]).map((v) => v.action), ['message.create', 'message.update', 'message.append']);
    const deleted = await call('POST', `rest-versions/messages/${serial}/delete`, { description: 'moderated' });
    assert.equal(deleted.status, 200);
    assert.equal((await call('GET', `rest-versions/messages/${serial}`)).json.deleted, true);
    const late = await call('POST', `rest-versions/messages/${serial}/append`, { data: '!' });
    assert.equal(late.status, 409);
    assert.equal(late.json.code, 'RC_ERR_MESSAGE_DELETED');
    const missing = await call('POST', `rest-versions/messages/${serial.replace(/-.*$/, '-0000000zzzz')}/update`, { data: 'x' });
    assert.equal(missing.status, 404);
    assert.equal(missing.json.code, 'RC_ERR_MESSAGE_NOT_FOUND');
    const otherEpoch = await call('POST', `rest-versions/messages/${serial.replace(/^.*-/, 'zzzzzzzz-')}/update`, { data: 'x' });
    assert.equal(otherEpoch.status, 409);
    assert.equal(otherEpoch.json.code, 'RC_ERR_MESSAGE_EPOCH_MISMATCH');
    const history = await call('GET', 'rest-versions/history', undefined, { direction: 'oldest_first' });
    assert.deepEqual((history.json.items as { action: string }[]).map((i) => i.action), ['message.create', 'message.update', 'message.append', 'message.delete']);
  });

  test('annotations: create, list with filters, summary on the message, delete twice', async () => {
    const serial = await trigger('rest-annotations', 'pic');
    const made = await call('POST', `rest-annotations/messages/${serial}/annotations`, { type: 'reactions:distinct.v1', name: 'like', client_id: 'user-1' });
    assert.equal(made.status, 200);
    await call('POST', `rest-annotations/messages/${serial}/annotations`, { type: 'reactions:distinct.v1', name: 'like', clientId: 'user-2' });
    const summary = (await call('GET', `rest-annotations/messages/${serial}`)).json.summary;
    assert.deepEqual(summary, { 'reactions:distinct.v1': { like: { total: 2, clientIds: ['user-1', 'user-2'], clipped: false } } });
    const listed = await call('GET', `rest-annotations/messages/${serial}/annotations`, undefined, { client_id: 'user-2' });
    assert.deepEqual((listed.json.items as { client_id: string }[]).map((a) => a.client_id), ['user-2']);
    const annotationSerial = (made.json.annotation as { serial: string }).serial;
    const removed = await call('DELETE', `rest-annotations/messages/${serial}/annotations/${annotationSerial}`);
    assert.equal(removed.json.deleted, true);
    const again = await call('DELETE', `rest-annotations/messages/${serial}/annotations/${annotationSerial}`);
    assert.equal(again.status, 200);
    assert.equal(again.json.deleted, false);
    const badType = await call('POST', `rest-annotations/messages/${serial}/annotations`, { type: 'reactions:count.v1', name: 'x', client_id: 'u' });
    assert.equal(badType.json.code, 'RC_ERR_ANNOTATION_INVALID_TYPE');
  });

  test('presence history lists joins and leaves; other channels are 400', async () => {
    const channel = 'presence-rest-room';
    const subscriber = { connectionId: 'p1', deliver: () => undefined };
    await node.app.core.joinPresence(TEST_APP.id, channel, subscriber, { userId: 'ann', userInfo: { name: 'Ann' } });
    await node.app.core.unsubscribe(TEST_APP.id, channel, subscriber);
    let items: { action: string }[] = [];
    const deadline = Date.now() + 5000;
    while (items.length < 2 && Date.now() < deadline) {
      items = (await call('GET', `${channel}/presence/history`, undefined, { direction: 'oldest_first' })).json.items as { action: string }[];
    }
    assert.deepEqual(items.map((i) => i.action), ['presence.enter', 'presence.leave']);
    const notPresence = await call('GET', 'public-room/presence/history');
    assert.equal(notPresence.status, 400);
  });

  test('unsigned requests to the new routes are refused', async () => {
    const response = await fetch(`${node.url}${base}/x/history`);
    assert.equal(response.status, 401);
  });
});
