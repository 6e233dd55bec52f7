/**
 * Real peers for the WebSocket door: `pusher-js` (the browser/Node client, unmodified)
 * pointed at a roomcast node, authorising channels and users with the official
 * `pusher` server SDK, as an application's auth endpoint would.
 */
import { createRequire } from 'node:module';
import Pusher from 'pusher';
import pusherJsModule from 'pusher-js';
import type { Channel } from 'pusher-js';
import type { Options as PusherJsOptions } from 'pusher-js';
import type * as PusherJsTypes from 'pusher-js/types/src/core/pusher.js';
import { TEST_APP } from './app.ts';

// pusher-js is CommonJS (`module.exports = Pusher`); under NodeNext its default import is
// typed as the module, so name the class type explicitly.
export type PusherJs = PusherJsTypes.default;
type PusherJsConstructor = new (key: string, options: PusherJsOptions) => PusherJs;
const PusherJs = pusherJsModule as unknown as PusherJsConstructor;
/**
 * pusher-js decrypts `private-encrypted-` channels with the tweetnacl it depends on,
 * passed as the `nacl` option (its with-encryption entry is a browser build). Resolved
 * from pusher-js's own location so the test uses exactly its dependency.
 */
const nacl: unknown = createRequire(createRequire(import.meta.url).resolve('pusher-js'))('tweetnacl');

/** A 32-byte master key for encrypted channels in tests (base64). */
export const TEST_ENCRYPTION_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');

/** The server SDK for the test app, aimed at `port` (REST calls, auth signatures). */
export function serverSdk(port: number): Pusher {
  return new Pusher({
    appId: TEST_APP.id,
    key: TEST_APP.key,
    secret: TEST_APP.secret,
    host: '127.0.0.1',
    port: String(port),
    useTLS: false,
    encryptionMasterKeyBase64: TEST_ENCRYPTION_MASTER_KEY,
  });
}

export interface PeerOptions {
  /** presence channel_data for this client's presence subscriptions. */
  readonly presence?: { user_id: string; user_info?: Record<string, unknown> };
  /** user_data for `pusher.signin()`. */
  readonly user?: { id: string; user_info?: Record<string, unknown>; watchlist?: string[] };
  /** Give pusher-js tweetnacl, for `private-encrypted-` channels. */
  readonly encryption?: boolean;
  /**
   * Sign every channel with this channel_data, private ones too, and send it along: what
   * pusher-js's own integration-test auth server does (`authorizeChannel(socket, channel, data)`).
   */
  readonly channelDataForAll?: { user_id: string; user_info?: Record<string, unknown> };
  /** Replaces the SDK-made channel authorization (an auth endpoint that misbehaves). */
  readonly channelAuth?: (socketId: string, channelName: string) => { auth: string; channel_data?: string };
  /** How long to wait for `connected` (ms). Default 5000. */
  readonly connectTimeoutMs?: number;
}

/** A pusher-js client on `port`, connected (resolves once `connected`). */
export async function pusherJsClient(port: number, options: PeerOptions = {}): Promise<PusherJs> {
  const sdk = serverSdk(port);
  const client = new PusherJs(TEST_APP.key, {
    ...(options.encryption === true ? { nacl: nacl as PusherJsOptions['nacl'] } : {}),
    cluster: 'x',
    wsHost: '127.0.0.1',
    wsPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    channelAuthorization: {
      customHandler: ({ socketId, channelName }: { socketId: string; channelName: string }, callback: (error: Error | null, data: { auth: string; channel_data?: string } | null) => void) => {
        try {
          if (options.channelAuth !== undefined) return callback(null, options.channelAuth(socketId, channelName));
          const data = channelName.startsWith('presence-') && options.presence !== undefined ? options.presence : options.channelDataForAll;
          callback(null, sdk.authorizeChannel(socketId, channelName, data));
        } catch (error) {
          callback(error as Error, null);
        }
      },
    },
    userAuthentication: {
      customHandler: ({ socketId }: { socketId: string }, callback: (error: Error | null, data: { auth: string; user_data: string } | null) => void) => {
        if (options.user === undefined) return callback(new Error('no user for this client'), null);
        callback(null, sdk.authenticateUser(socketId, options.user));
      },
    },
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Stop it retrying in the background: the caller never gets this client.
      client.disconnect();
      reject(new Error('pusher-js did not connect'));
    }, options.connectTimeoutMs ?? 5000);
    client.connection.bind('connected', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return client;
}

/** Subscribes and resolves on `pusher:subscription_succeeded` (rejects on `subscription_error`). */
export function subscribed(client: PusherJs, channelName: string): Promise<Channel> {
  const channel = client.subscribe(channelName);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no subscription to ${channelName}`)), 5000);
    channel.bind('pusher:subscription_succeeded', () => {
      clearTimeout(timer);
      resolve(channel);
    });
    channel.bind('pusher:subscription_error', (error: unknown) => {
      clearTimeout(timer);
      reject(new Error(`subscription_error on ${channelName}: ${JSON.stringify(error)}`));
    });
  });
}

/** Resolves with the data of the next `event` on `channel`. */
export function nextEvent<T = unknown>(channel: Channel, event: string, timeoutMs = 5000): Promise<{ data: T; metadata: unknown }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} on ${channel.name}`)), timeoutMs);
    const handler = (data: T, metadata: unknown): void => {
      clearTimeout(timer);
      channel.unbind(event, handler);
      resolve({ data, metadata });
    };
    channel.bind(event, handler);
  });
}
