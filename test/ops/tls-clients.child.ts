/**
 * Run by tls.test.ts in a child process whose NODE_EXTRA_CA_CERTS trusts the test CA (as a
 * deployment's clients trust a real one): each real client talks to the HTTPS/WSS port
 * given as argv[2]. Exits 0 when every client worked; prints what failed otherwise.
 */
import assert from 'node:assert/strict';
import { adapt } from 'cometd-nodejs-client';
import faye from 'faye';
import Pusher from 'pusher';
import pusherJsModule from 'pusher-js';
import type { Options as PusherJsOptions } from 'pusher-js';
import type * as PusherJsTypes from 'pusher-js/types/src/core/pusher.js';
import { login, until } from '../helpers/bots.ts';
import { nextEvent, subscribed } from '../helpers/pusher-peers.ts';

type PusherJs = PusherJsTypes.default;
const PusherJs = pusherJsModule as unknown as new (key: string, options: PusherJsOptions) => PusherJs;

const url = process.argv[2]!;
const port = Number(new URL(url).port);
assert.equal(new URL(url).protocol, 'https:');

// The pusher SDK with useTLS: signed REST over HTTPS.
const sdk = new Pusher({ appId: 'app-1', key: 'app-key', secret: 'app-secret', host: '127.0.0.1', port: String(port), useTLS: true });

// pusher-js with forceTLS: the WebSocket door over WSS.
const client = new PusherJs('app-key', {
  cluster: 'x',
  wsHost: '127.0.0.1',
  wssPort: port,
  forceTLS: true,
  enabledTransports: ['ws'], // pusher-js's transport name; forceTLS makes it wss://
  disableStats: true,
  channelAuthorization: {
    customHandler: ({ socketId, channelName }: { socketId: string; channelName: string }, callback: (error: Error | null, data: { auth: string } | null) => void) =>
      callback(null, sdk.authorizeChannel(socketId, channelName)),
  },
} as PusherJsOptions);
const channel = await subscribed(client, 'private-tls');
const event = nextEvent<{ secure: boolean }>(channel, 'check');
assert.equal((await sdk.trigger('private-tls', 'check', { secure: true })).status, 200);
assert.deepEqual((await event).data, { secure: true });
client.disconnect();
process.stdout.write('pusher-js forceTLS + pusher useTLS: ok\n');

// faye over https://
{
  const { cookie, status } = await login(url);
  assert.equal(status, 200);
  const bayeux = new faye.Client(`${url}/api/v1/bayeux`, { timeout: 5, retry: 1 });
  bayeux.setHeader('Cookie', cookie);
  const received: { contentData?: string }[] = [];
  await bayeux.subscribe('/service/stream', (message) => void received.push(message as { contentData?: string }));
  await sdk.trigger('presence-room-acme-lobby', 'chat', 'hello faye over tls');
  await until(() => received.find((entry) => entry.contentData === 'hello faye over tls'));
  bayeux.disconnect();
  process.stdout.write('faye https: ok\n');
}

// cometd over https://
{
  adapt();
  const { CometD } = await import('cometd');
  const { cookie } = await login(url);
  const cometd = new CometD();
  cometd.configure({ url: `${url}/api/v1/bayeux`, requestHeaders: { Cookie: cookie }, logLevel: 'warn' });
  await new Promise<void>((resolve) => cometd.handshake((message) => message.successful && resolve()));
  const received: { contentData?: string }[] = [];
  await new Promise<void>((resolve) => cometd.subscribe('/service/stream', (message) => void received.push(message.data as { contentData?: string }), () => resolve()));
  await sdk.trigger('presence-room-acme-lobby', 'chat', 'hello cometd over tls');
  await until(() => received.find((entry) => entry.contentData === 'hello cometd over tls'));
  await new Promise<void>((resolve) => cometd.disconnect(() => resolve()));
  process.stdout.write('cometd https: ok\n');
}
process.exit(0);
