/**
 * Gauges stay in /metrics at zero: once the last client of an app leaves, its
 * `roomcast_ws_connections`, `roomcast_subscriptions`, `roomcast_local_channels`,
 * `roomcast_presence_members` and `roomcast_bayeux_sessions` series read 0 instead of
 * vanishing (a dashboard shows 0, an alert on `== 0` fires). Before any client came, every
 * configured app's series is there at 0 too.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { bayeux, handshake, login } from '../helpers/bots.ts';
import { RawPusherClient, waitUntil } from '../helpers/ws-client.ts';

const GAUGES = ['roomcast_ws_connections', 'roomcast_subscriptions', 'roomcast_local_channels', 'roomcast_presence_members', 'roomcast_bayeux_sessions'];

let running: RunningApp;

before(async () => {
  running = await startApp(testConfig());
});
after(() => running.close());

async function scrape(): Promise<string> {
  const response = await fetch(`${running.url}/metrics`);
  assert.equal(response.status, 200);
  return response.text();
}

/** The value of `name{app="app-1"}`, or undefined when the series is absent. */
function valueOf(text: string, name: string): number | undefined {
  const match = new RegExp(`^${name}\\{app="${TEST_APP.id}"\\} (\\S+)$`, 'm').exec(text);
  return match === null ? undefined : Number(match[1]);
}

test('before any client, every per-app gauge is exported at 0', async () => {
  const text = await scrape();
  for (const name of GAUGES) assert.equal(valueOf(text, name), 0, name);
});

test('connect, subscribe (presence too), log a bot in; then all leave: the gauges read 0, not absent', async () => {
  const client = await RawPusherClient.connect(running.port);
  assert.equal((await client.subscribe('room-1')).event, 'pusher_internal:subscription_succeeded');
  assert.equal((await client.subscribe('presence-room-1', { user_id: 'u1' })).event, 'pusher_internal:subscription_succeeded');
  const { cookie } = await login(running.url);
  const clientId = await handshake(running.url, cookie);

  const busy = await scrape();
  for (const name of GAUGES) assert.ok((valueOf(busy, name) ?? 0) >= 1, `${name} counts the clients: ${valueOf(busy, name)}`);

  client.close();
  await client.closed;
  const [reply] = await bayeux(running.url, cookie, [{ channel: '/meta/disconnect', clientId }]);
  assert.equal(reply?.successful, true);
  let text = '';
  await waitUntil(async () => {
    text = await scrape();
    return GAUGES.every((name) => (valueOf(text, name) ?? 0) === 0);
  }, 5000, 'the clients to be gone');
  for (const name of GAUGES) assert.equal(valueOf(text, name), 0, `${name} is exported at 0:\n${text.split('\n').filter((line) => line.startsWith(name)).join('\n')}`);
});
