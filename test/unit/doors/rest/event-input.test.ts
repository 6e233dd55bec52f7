/** Event preparation and the info parameter, without HTTP. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRoomcastError, type ErrorCode } from '../../../../src/errors.ts';
import { prepareEvent } from '../../../../src/doors/rest/event-input.ts';
import { infoFields, parseInfo } from '../../../../src/doors/rest/info.ts';
import { testConfig } from '../../../helpers/app.ts';

const app = testConfig().apps[0]!;

function rejects(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (error: unknown) => isRoomcastError(error) && error.code === code, `expected ${code}`);
}

test('channel or channels become one deduplicated list; objects are serialised once', () => {
  const single = prepareEvent(app, { name: 'e', channel: 'a', data: { x: 1 } });
  assert.deepEqual(single.input.channels, ['a']);
  assert.equal(single.data, '{"x":1}');
  const many = prepareEvent(app, { name: 'e', channels: ['a', 'b', 'a'], data: 's', socket_id: '1.2' });
  assert.deepEqual(many.input.channels, ['a', 'b']);
  assert.equal(many.input.socketId, '1.2');
  assert.equal(many.input.origin, 'rest');
});

test('server-to-user targets are split from channels and their ids checked', () => {
  const mixed = prepareEvent(app, { name: 'e', channels: ['news', '#server-to-user-u1'], data: 'd' });
  assert.deepEqual(mixed.input.channels, ['news']);
  assert.deepEqual(mixed.userIds, ['u1']);
  const usersOnly = prepareEvent(app, { name: 'e', channel: '#server-to-user-u2', data: 'd' });
  assert.deepEqual(usersOnly.input.channels, []);
  assert.deepEqual(usersOnly.userIds, ['u2']);
  rejects(() => prepareEvent(app, { name: 'e', channel: '#server-to-user-', data: 'd' }), 'RC_ERR_USER_INVALID_ID');
});

test('each problem has its own code', () => {
  rejects(() => prepareEvent(app, { name: 'e', channel: 'a', channels: ['b'], data: 'd' }), 'RC_ERR_EVENT_CHANNEL_AND_CHANNELS');
  rejects(() => prepareEvent(app, { name: 'e', data: 'd' }), 'RC_ERR_EVENT_NO_CHANNEL');
  rejects(() => prepareEvent(app, { name: 'e', channel: 'a', data: 'd', socket_id: '12' }), 'RC_ERR_EVENT_INVALID_SOCKET_ID');
  rejects(() => prepareEvent(app, { name: 'pusher:ping', channel: 'a', data: 'd' }), 'RC_ERR_EVENT_INVALID_NAME');
  rejects(() => prepareEvent(app, { name: '', channel: 'a', data: 'd' }), 'RC_ERR_EVENT_INVALID_NAME');
  rejects(() => prepareEvent(app, { name: 'e', channel: 'a b', data: 'd' }), 'RC_ERR_CHANNEL_INVALID_NAME');
  rejects(() => prepareEvent(app, { name: 'e', channel: 'a', data: 'x'.repeat(10241) }), 'RC_ERR_EVENT_DATA_TOO_LARGE');
  const tooMany = Array.from({ length: 101 }, (_, i) => `#server-to-user-u${i}`);
  rejects(() => prepareEvent(app, { name: 'e', channels: tooMany, data: 'd' }), 'RC_ERR_EVENT_TOO_MANY_CHANNELS');
});

test('info: comma list, empty items ignored, unknown attributes refused', () => {
  assert.deepEqual([...parseInfo('user_count,,subscription_count,')].sort(), ['subscription_count', 'user_count']);
  assert.equal(parseInfo(undefined).size, 0);
  rejects(() => parseInfo('user_count,members'), 'RC_ERR_INFO_UNKNOWN_ATTRIBUTE');
});

test('infoFields leaves user_count out for channels that have none', () => {
  const wanted = parseInfo('user_count,subscription_count');
  assert.deepEqual(infoFields({ occupied: true, subscriptionCount: 3 }, wanted), { subscription_count: 3 });
  assert.deepEqual(infoFields({ occupied: true, subscriptionCount: 3, userCount: 2 }, wanted), { subscription_count: 3, user_count: 2 });
});
