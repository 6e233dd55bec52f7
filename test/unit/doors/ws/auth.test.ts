/** Channel and user auth signatures: the exact strings Pusher signs, and refusals. */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import Pusher from 'pusher';
import type { AppConfig } from '../../../../src/config/schema.ts';
import { channelAuthString, userAuthString, verifyAuth } from '../../../../src/doors/ws/auth.ts';

const app = { id: 'a', key: 'the-key', secret: 'the-secret' } as AppConfig;
const sdk = new Pusher({ appId: 'a', key: 'the-key', secret: 'the-secret', host: '127.0.0.1' });
const sign = (text: string, secret = app.secret): string => createHmac('sha256', secret).update(text).digest('hex');

test('the pusher SDK signatures verify: private, presence and user', () => {
  const privateAuth = sdk.authorizeChannel('1.2', 'private-x');
  assert.ok(verifyAuth(app, channelAuthString('1.2', 'private-x'), privateAuth.auth));
  const presence = sdk.authorizeChannel('1.2', 'presence-x', { user_id: 'u', user_info: { n: 1 } });
  assert.ok(verifyAuth(app, channelAuthString('1.2', 'presence-x', presence.channel_data), presence.auth));
  const user = sdk.authenticateUser('1.2', { id: 'u' });
  assert.ok(verifyAuth(app, userAuthString('1.2', user.user_data), user.auth));
  assert.equal(userAuthString('1.2', '{"id":"u"}'), '1.2::user::{"id":"u"}');
});

test('wrong secret, key, socket id, channel_data or shape are refused', () => {
  const signed = channelAuthString('1.2', 'private-x');
  assert.equal(verifyAuth(app, signed, `the-key:${sign(signed, 'other')}`), false);
  assert.equal(verifyAuth(app, signed, `other-key:${sign(signed)}`), false);
  assert.equal(verifyAuth(app, channelAuthString('1.3', 'private-x'), `the-key:${sign(signed)}`), false);
  assert.equal(verifyAuth(app, channelAuthString('1.2', 'presence-x', '{"user_id":"b"}'), `the-key:${sign('1.2:presence-x:{"user_id":"a"}')}`), false);
  for (const bad of [undefined, '', 'no-colon', 'the-key:', 'the-key:abc', `the-key:${sign(signed).toUpperCase()}`, `:${sign(signed)}`]) {
    assert.equal(verifyAuth(app, signed, bad), false, String(bad));
  }
  assert.equal(verifyAuth(app, signed, `the-key:${sign(signed)}`), true);
});
