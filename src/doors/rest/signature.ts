/**
 * Request signatures of the signed REST API, after the Pusher Channels HTTP API
 * ("Authentication" in the Pusher HTTP API reference) as Sockudo and the official
 * `pusher` server SDKs implement it:
 *
 *   query params  auth_key, auth_timestamp, auth_version=1.0, [body_md5], …, auth_signature
 *   body_md5      hex MD5 of the raw body bytes (required when the request has a body)
 *   string        METHOD "\n" PATH "\n" QUERY
 *   QUERY         every parameter except auth_signature, keys lower-cased, sorted by key,
 *                 joined as k=v&k=v with values NOT url-encoded (the SDK signs raw values)
 *   auth_signature  hex HMAC-SHA256 of the string with the app secret
 *
 * Worked example (the `pusher` SDK's trigger, secret "s"):
 *   POST\n/apps/1/events\nauth_key=k&auth_timestamp=1700000000&auth_version=1.0&body_md5=…
 *
 * Every check throws its own catalogue error, so a 401 body names the check that failed.
 * Pure module: no Fastify, so it is unit-testable and usable by tests as a signer.
 */
import { createHmac, createSecretKey, hash, type KeyObject } from 'node:crypto';
import { createError } from '../../errors.ts';

/** Pusher rejects requests whose timestamp is more than 600 s from the server clock. */
export const MAX_CLOCK_SKEW_SEC = 600;

/** The only signing protocol version Pusher defines. */
export const AUTH_VERSION = '1.0';

const REQUIRED_PARAMS = ['auth_key', 'auth_timestamp', 'auth_version', 'auth_signature'] as const;
const HEX_MD5 = /^[0-9a-fA-F]{32}$/;
const UNIX_SECONDS = /^\d{1,12}$/;

/** A request as it arrived on the wire, before any route looked at it. */
export interface SignedRequest {
  /** Upper-case HTTP method. */
  readonly method: string;
  /** The path as sent, without the query (e.g. `/apps/1/events`). */
  readonly path: string;
  /** The raw query string without the leading `?` ('' when there is none). */
  readonly query: string;
  /** The raw body bytes; empty or null when the request has no body. */
  readonly body: Uint8Array | null;
}

/** The app's credentials the request must be signed with. */
export interface SigningCredentials {
  readonly id: string;
  readonly key: string;
  readonly secret: string;
}

/**
 * Splits a raw query string into lower-cased keys and percent-decoded values.
 * Decoding is `decodeURIComponent` only (no '+' → space): the `pusher` SDK puts raw
 * values in the URL and signs them raw, so a '+' it sends must stay a '+'.
 * A key present twice (in any case) is rejected: the signed string would be ambiguous.
 */
export function parseSignedQuery(query: string): Map<string, string> {
  const params = new Map<string, string>();
  // One pass over the text: every signed request parses its query here.
  for (let start = 0; start < query.length; ) {
    let end = query.indexOf('&', start);
    if (end < 0) end = query.length;
    if (end > start) {
      const at = query.indexOf('=', start);
      const split = at >= 0 && at < end;
      const key = decodeComponent(query.slice(start, split ? at : end)).toLowerCase();
      if (params.has(key)) throw createError('RC_ERR_AUTH_DUPLICATE_PARAM', JSON.stringify(key.slice(0, 40)));
      params.set(key, split ? decodeComponent(query.slice(at + 1, end)) : '');
    }
    start = end + 1;
  }
  return params;
}

function decodeComponent(text: string): string {
  // Most components (keys, hex digests, timestamps) have nothing to decode.
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    throw createError('RC_ERR_HTTP_VALIDATION', `query component ${JSON.stringify(text.slice(0, 40))} is not valid percent-encoding`);
  }
}

/** The string to sign: `METHOD\nPATH\nk=v&…` over every parameter but auth_signature, sorted by key. */
export function stringToSign(method: string, path: string, params: ReadonlyMap<string, string>): string {
  // Runs on every signed request: sort the keys alone (the default sort compares UTF-16
  // code units, the same order as `<`), then build the string in one pass.
  const keys: string[] = [];
  for (const key of params.keys()) if (key !== 'auth_signature') keys.push(key);
  keys.sort();
  let query = '';
  for (let i = 0; i < keys.length; i++) query += `${i === 0 ? '' : '&'}${keys[i]}=${params.get(keys[i]!)}`;
  return `${method.toUpperCase()}\n${path}\n${query}`;
}

/** Secrets seen → their key objects; few (one per app secret), cleared if a reload-heavy node ever collects many. */
const hmacKeys = new Map<string, KeyObject>();
const MAX_HMAC_KEYS = 1000;

/**
 * The secret as a key object, made once per secret: an HMAC keyed by a string converts
 * and copies the key on every call.
 */
function hmacKeyOf(secret: string): KeyObject {
  let key = hmacKeys.get(secret);
  if (key === undefined) {
    if (hmacKeys.size >= MAX_HMAC_KEYS) hmacKeys.clear();
    key = createSecretKey(Buffer.from(secret, 'utf8'));
    hmacKeys.set(secret, key);
  }
  return key;
}

/** Hex HMAC-SHA256 of `text` with `secret` (the secret's UTF-8 bytes are the key). */
export function hmacHex(secret: string, text: string): string {
  return createHmac('sha256', hmacKeyOf(secret)).update(text, 'utf8').digest('hex');
}

/** Hex MD5 of raw bytes (the `body_md5` parameter). */
export function md5Hex(body: Uint8Array | string): string {
  return hash('md5', body, 'hex');
}

/**
 * Constant-time equality of two strings: every code unit is compared whatever the first
 * difference (lengths are not secret). Works on the strings as they are, so comparing a
 * hex digest costs no Buffer.
 */
export function safeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/**
 * Signs a request the way the SDKs do, returning the full query string to send
 * (used by tests and by anyone writing a client without an SDK).
 */
export function signQuery(
  credentials: Pick<SigningCredentials, 'key' | 'secret'>,
  method: string,
  path: string,
  params: Readonly<Record<string, string>> = {},
  body?: string | Uint8Array,
  nowSec = Math.floor(Date.now() / 1000),
): string {
  const signed = new Map<string, string>([
    ['auth_key', credentials.key],
    ['auth_timestamp', String(nowSec)],
    ['auth_version', AUTH_VERSION],
  ]);
  if (body !== undefined && body.length > 0) signed.set('body_md5', md5Hex(body));
  for (const [key, value] of Object.entries(params)) signed.set(key, value);
  // The verifier lower-cases keys before sorting (parseSignedQuery), so sign them the same way.
  const lowered = new Map([...signed].map(([key, value]) => [key.toLowerCase(), value]));
  const signature = hmacHex(credentials.secret, stringToSign(method, path, lowered));
  const encoded = [...signed.entries()].map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`);
  return `${encoded.join('&')}&auth_signature=${signature}`;
}

/**
 * Verifies a signed request against an app's credentials; throws the catalogue error of
 * the first failed check, in this order: missing parameter, duplicate parameter,
 * auth_version, auth_key, auth_timestamp, body_md5 form, auth_signature, then body_md5
 * against the body. Returns the parsed (lower-cased) query parameters.
 */
export function verifySignedRequest(
  request: SignedRequest,
  app: SigningCredentials,
  nowSec: number = Date.now() / 1000,
  maxSkewSec: number = MAX_CLOCK_SKEW_SEC,
): Map<string, string> {
  const body = request.body ?? new Uint8Array(0);
  const params = verifySignedUrl(request, app, nowSec, maxSkewSec, body.length > 0);
  verifyBodyDigest(params, body.length, body.length === 0 ? null : md5Hex(body));
  return params;
}

/**
 * Every check that needs only the method and URL (all but comparing `body_md5` with the
 * body), so a request is authenticated before its body is read: an unsigned upload is
 * refused without buffering a byte of it. `body_md5` is covered by the signature, so a
 * request that passes can only carry the body its signer hashed (`verifyBodyDigest`).
 */
export function verifySignedUrl(
  request: Omit<SignedRequest, 'body'>,
  app: SigningCredentials,
  nowSec: number = Date.now() / 1000,
  maxSkewSec: number = MAX_CLOCK_SKEW_SEC,
  /** The request announces a body (Content-Length above 0, or chunked): body_md5 is then required. */
  hasBody = false,
): Map<string, string> {
  const params = parseSignedQuery(request.query);
  for (const name of REQUIRED_PARAMS) {
    if (!params.has(name)) throw createError('RC_ERR_AUTH_MISSING_PARAM', name);
  }
  const version = params.get('auth_version')!;
  if (version !== AUTH_VERSION) throw createError('RC_ERR_AUTH_BAD_VERSION', JSON.stringify(version.slice(0, 20)));

  const key = params.get('auth_key')!;
  if (!safeEqual(key, app.key)) throw createError('RC_ERR_AUTH_UNKNOWN_KEY', JSON.stringify(key.slice(0, 100)), app.id);

  const timestamp = params.get('auth_timestamp')!;
  if (!UNIX_SECONDS.test(timestamp)) throw createError('RC_ERR_AUTH_BAD_TIMESTAMP', JSON.stringify(timestamp.slice(0, 20)));
  if (Math.abs(nowSec - Number(timestamp)) > maxSkewSec) {
    throw createError('RC_ERR_AUTH_STALE_TIMESTAMP', timestamp, maxSkewSec, Math.floor(nowSec));
  }

  const bodyMd5 = params.get('body_md5');
  if (bodyMd5 === undefined && hasBody) throw createError('RC_ERR_AUTH_MISSING_PARAM', 'body_md5 (required when the request has a body)');
  if (bodyMd5 !== undefined && !HEX_MD5.test(bodyMd5)) throw createError('RC_ERR_AUTH_BAD_BODY_MD5');

  const given = params.get('auth_signature')!;
  const expected = stringToSign(request.method, request.path, params);
  if (!signatureMatches(app.secret, given, expected, request.method, request.path, params)) {
    throw createError('RC_ERR_AUTH_BAD_SIGNATURE', expected.replaceAll('\n', '\\n'));
  }
  return params;
}

/**
 * The body half of the check: `digestHex` is the hex MD5 of the `length` bytes received
 * (null when there were none). A body needs `body_md5`, and it must match.
 */
export function verifyBodyDigest(params: ReadonlyMap<string, string>, length: number, digestHex: string | null): void {
  const bodyMd5 = params.get('body_md5');
  if (bodyMd5 === undefined) {
    if (length > 0) throw createError('RC_ERR_AUTH_MISSING_PARAM', 'body_md5 (required when the request has a body)');
    return;
  }
  // Hex digits in either case spelling the body's digest (lower-case hex).
  if (!hexDigestEquals(bodyMd5, digestHex ?? md5Hex(''))) throw createError('RC_ERR_AUTH_BAD_BODY_MD5');
}

/**
 * Compares in constant time against the path as sent and, when it differs, the
 * percent-decoded path: SDKs sign the path before their HTTP library escapes it
 * (a user id with a space is signed as "a b" but sent as "a%20b").
 */
function signatureMatches(
  secret: string,
  given: string,
  expected: string,
  method: string,
  path: string,
  params: ReadonlyMap<string, string>,
): boolean {
  if (given.length !== SHA256_HEX_LENGTH) return false;
  let matched = hexDigestEquals(given, hmacHex(secret, expected));
  const decodedPath = safeDecodePath(path);
  if (decodedPath !== null && decodedPath !== path) {
    // No early exit: the time taken does not depend on which candidate matched.
    matched = hexDigestEquals(given, hmacHex(secret, stringToSign(method, decodedPath, params))) || matched;
  }
  return matched;
}

/** Hex digits of a SHA-256 digest. */
const SHA256_HEX_LENGTH = 64;

/**
 * True when `given` is hex digits in either case (`[0-9a-fA-F]`) that spell `expectedHex`
 * (lower-case hex of the same length): one pass, in constant time for a given length
 * (every character is looked at whatever the first difference), with no lower-cased copy.
 */
export function hexDigestEquals(given: string, expectedHex: string): boolean {
  if (given.length !== expectedHex.length) return false;
  let difference = 0;
  let notHex = 0;
  for (let i = 0; i < given.length; i++) {
    const code = given.charCodeAt(i);
    // Setting bit 0x20 lower-cases A–F and leaves the digits as they are.
    const lower = code | 0x20;
    notHex |= (code - 0x30) >>> 0 <= 9 || (lower - 0x61) >>> 0 <= 5 ? 0 : 1;
    difference |= lower ^ expectedHex.charCodeAt(i);
  }
  return (difference | notHex) === 0;
}

function safeDecodePath(path: string): string | null {
  if (!path.includes('%')) return path;
  try {
    return decodeURIComponent(path);
  } catch {
    return null;
  }
}
