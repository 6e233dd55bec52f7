/**
 * Signatures a client presents over the WebSocket, made by the application's server
 * with the app secret (the `pusher` SDK's `authorizeChannel` / `authenticateUser`):
 *
 *   channel auth:  "<key>:" + hex(HMAC-SHA256(secret, "<socket_id>:<channel>[:<channel_data>]"))
 *                  (presence: with channel_data whenever it is sent; private and
 *                  encrypted: either form when channel_data is sent, since the SDKs'
 *                  `authorizeChannel(socket, channel, data)` signs it for any channel)
 *   user sign-in:  "<key>:" + hex(HMAC-SHA256(secret, "<socket_id>::user::<user_data>"))
 *
 * Source: Pusher "Authentication and authorization signatures". The socket id in the
 * signed string binds a signature to one connection, so a leaked signature cannot be
 * replayed on another. Comparison is constant-time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AppConfig } from '../../config/schema.ts';

/** The string the app server must sign to let `socketId` subscribe to `channel`. */
export function channelAuthString(socketId: string, channel: string, channelData?: string): string {
  return channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`;
}

/** The string the app server must sign to sign `socketId` in as the user in `userData`. */
export function userAuthString(socketId: string, userData: string): string {
  return `${socketId}::user::${userData}`;
}

/** True when `auth` is `<app key>:<hex HMAC-SHA256 of signed>` with the app's secret. */
export function verifyAuth(app: AppConfig, signed: string, auth: string | undefined): boolean {
  return verifyAuthAny(app, [signed], auth);
}

/**
 * True when `auth` is `<app key>:<hex HMAC-SHA256>` of one of `candidates` with the app's
 * secret. Every candidate is computed and compared (no early exit), each compare in
 * constant time, so the time taken says nothing about which one, if any, matched.
 */
export function verifyAuthAny(app: AppConfig, candidates: readonly string[], auth: string | undefined): boolean {
  if (auth === undefined) return false;
  const colon = auth.indexOf(':');
  if (colon < 0) return false;
  const key = auth.slice(0, colon);
  const given = Buffer.from(auth.slice(colon + 1), 'utf8');
  // Both parts are checked, and the length test leaks only that the length is wrong
  // (the expected length, 64, is public).
  const keyMatches = constantTimeEqual(Buffer.from(key, 'utf8'), Buffer.from(app.key, 'utf8'));
  let signatureMatches = false;
  for (const signed of candidates) {
    const expected = Buffer.from(createHmac('sha256', app.secret).update(signed, 'utf8').digest('hex'), 'utf8');
    const matches = given.length === expected.length && timingSafeEqual(given, expected);
    signatureMatches = signatureMatches || matches;
  }
  return keyMatches && signatureMatches;
}

function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
