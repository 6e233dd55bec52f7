/**
 * Authorized connections (`apps[].userAuthenticationTimeoutSec`), with pusher-js: a
 * connection that has not signed in within the timeout is closed with 4009 (pusher-js
 * then stops reconnecting); one that signed in stays.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { pusherJsClient, type PusherJs } from '../helpers/pusher-peers.ts';
import { RawPusherClient, waitUntil } from '../helpers/ws-client.ts';

describe('authorized connections: sign in within userAuthenticationTimeoutSec or be closed with 4009', () => {
  let running: RunningApp;
  const clients: PusherJs[] = [];

  before(async () => {
    running = await startApp(testConfig({ apps: [{ ...TEST_APP, userAuthenticationTimeoutSec: 1 }] }));
  });
  after(async () => {
    for (const client of clients) client.disconnect();
    await running.close();
  });

  test('pusher-js that signs in stays connected; one that does not is closed with 4009 and does not reconnect', async () => {
    const signed = await pusherJsClient(running.port, { user: { id: 'u-1' } });
    clients.push(signed);
    signed.signin();
    await waitUntil(() => running.app.core.hub.userConnections(TEST_APP.id, 'u-1').length === 1, 5000, 'sign-in');

    // Connected after `signed`, so its deadline passes after the signed one's did.
    const unsigned = await pusherJsClient(running.port);
    clients.push(unsigned);
    const errors: { type?: string; data?: { code?: number; rc_code?: string } }[] = [];
    unsigned.connection.bind('error', (error: (typeof errors)[number]) => errors.push(error));
    const states: string[] = [];
    unsigned.connection.bind('state_change', ({ current }: { current: string }) => states.push(current));
    await waitUntil(() => errors.some((error) => error.data?.code === 4009), 10_000, 'the 4009 pusher:error');
    assert.equal(errors.find((error) => error.data?.code === 4009)?.data?.rc_code, 'RC_ERR_WS_SIGNIN_TIMEOUT');
    await waitUntil(() => unsigned.connection.state !== 'connected', 5000, 'the close');
    assert.ok(!states.includes('connecting'), `pusher-js reconnected: ${states.join(' → ')}`);

    assert.equal(signed.connection.state, 'connected');
    const event = new Promise<unknown>((resolve) => signed.user.bind('still-here', resolve));
    await running.app.core.sendToUser(TEST_APP.id, 'u-1', 'still-here', '"yes"');
    assert.equal(await event, 'yes');
  });

  test('the close code is 4009; a private subscription alone does not authorize (sign-in does)', async () => {
    const raw = await RawPusherClient.connect(running.port);
    assert.equal((await raw.subscribe('private-x')).event, 'pusher_internal:subscription_succeeded');
    const error = await raw.nextEvent('pusher:error', undefined, 10_000);
    assert.equal((error.data as { code: number }).code, 4009);
    assert.equal((await raw.closed).code, 4009);
  });
});

describe('authorized connections off (the default)', () => {
  test('an app without the option never closes unsigned connections for it', async () => {
    const running = await startApp(testConfig());
    try {
      assert.equal(running.config.apps[0]!.userAuthenticationTimeoutSec, 0);
      const raw = await RawPusherClient.connect(running.port);
      raw.send({ event: 'pusher:ping', data: {} });
      await raw.nextEvent('pusher:pong');
      assert.equal(raw.frames.some((frame) => frame.event === 'pusher:error'), false);
      raw.close();
    } finally {
      await running.close();
    }
  });
});
