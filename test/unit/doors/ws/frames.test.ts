/** Parsing client frames into typed requests, and the outgoing encoders. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRoomcastError } from '../../../../src/errors.ts';
import { ChannelMessage } from '../../../../src/core/types.ts';
import { encodeChannelMessage, parseClientFrame, presenceSubscriptionSucceeded } from '../../../../src/doors/ws/frames.ts';

test('pusher-js frames parse into requests; string data is accepted too', () => {
  assert.deepEqual(parseClientFrame('{"event":"pusher:ping","data":{}}'), { kind: 'ping' });
  assert.deepEqual(parseClientFrame('{"event":"pusher:subscribe","data":{"channel":"private-a","auth":"k:s"}}'), {
    kind: 'subscribe',
    channel: 'private-a',
    auth: 'k:s',
    channelData: undefined,
  });
  assert.deepEqual(parseClientFrame(JSON.stringify({ event: 'pusher:unsubscribe', data: JSON.stringify({ channel: 'a' }) })), { kind: 'unsubscribe', channel: 'a' });
  assert.deepEqual(parseClientFrame('{"event":"client-x","channel":"private-a","data":{"n":1}}'), {
    kind: 'client_event',
    event: 'client-x',
    channel: 'private-a',
    data: { n: 1 },
  });
});

test('heartbeats parse the same through the exact-text path and the JSON parse', () => {
  // The exact texts clients send (answered without a JSON parse), then other spellings.
  for (const kind of ['ping', 'pong'] as const) {
    assert.deepEqual(parseClientFrame(`{"event":"pusher:${kind}","data":{}}`), { kind });
    assert.deepEqual(parseClientFrame(`{"event":"pusher:${kind}","data":"{}"}`), { kind });
    assert.deepEqual(parseClientFrame(`{ "event": "pusher:${kind}" }`), { kind });
    assert.deepEqual(parseClientFrame(`{"data":{},"event":"pusher:${kind}"}`), { kind });
  }
});

test('bad frames throw catalogue errors naming the problem', () => {
  const cases: [string, string, RegExp][] = [
    ['', 'RC_ERR_WS_BAD_FRAME', /not valid JSON/],
    ['null', 'RC_ERR_WS_BAD_FRAME', /JSON object/],
    ['{"event":5}', 'RC_ERR_WS_BAD_FRAME', /"event"/],
    ['{"event":"pusher:subscribe","data":[]}', 'RC_ERR_WS_BAD_FRAME', /"data" must be an object/],
    ['{"event":"pusher:signin","data":{"auth":"a","user_data":{}}}', 'RC_ERR_WS_BAD_FRAME', /user_data/],
    ['{"event":"__proto__"}', 'RC_ERR_WS_UNKNOWN_EVENT', /__proto__/],
  ];
  for (const [text, code, message] of cases) {
    assert.throws(
      () => parseClientFrame(text),
      (error: unknown) => isRoomcastError(error) && error.code === code && message.test(error.message),
      text,
    );
  }
});

test('a channel message is encoded once per encoder, with user_id for presence client events', () => {
  const message = new ChannelMessage('a', 'presence-x', 'k3x9q0ab', 1, 0, { action: 'message.create', name: 'client-x', data: '{"n":1}', origin: 'ws', userId: 'u' });
  const text = message.encode(encodeChannelMessage);
  assert.deepEqual(JSON.parse(text), { event: 'client-x', channel: 'presence-x', data: '{"n":1}', user_id: 'u' });
  assert.equal(message.encode(encodeChannelMessage), text);
});

test('presence hashes keep ids such as __proto__ as plain keys', () => {
  const frame = JSON.parse(presenceSubscriptionSucceeded('presence-x', [{ userId: '__proto__', userInfo: { a: 1 } }])) as { data: string };
  assert.deepEqual(JSON.parse(frame.data), { presence: { ids: ['__proto__'], hash: JSON.parse('{"__proto__":{"a":1}}'), count: 1 } });
});
