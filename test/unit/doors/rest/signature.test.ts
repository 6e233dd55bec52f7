/** The REST signature function, against hand-computed values and the official `pusher` SDK's signer. */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { isRoomcastError, type ErrorCode } from '../../../../src/errors.ts';
import {
  hexDigestEquals,
  hmacHex,
  md5Hex,
  parseSignedQuery,
  signQuery,
  stringToSign,
  verifySignedRequest,
  type SignedRequest,
} from '../../../../src/doors/rest/signature.ts';

const require = createRequire(import.meta.url);
// The SDK's own signer, unmodified: if roomcast rejects what it produces, roomcast is wrong.
const sdkRequests = require('pusher/lib/requests.js') as {
  createSignedQueryString(token: unknown, request: { method: string; path: string; params?: Record<string, string>; body?: string }): string;
};
const SdkToken = require('pusher/lib/token.js') as new (key: string, secret: string) => unknown;

const APP = { id: 'app-1', key: 'the-key', secret: 'the-secret' };
const NOW = 1_700_000_000;

function request(method: string, path: string, query: string, body?: string): SignedRequest {
  return { method, path, query, body: body === undefined ? null : Buffer.from(body) };
}

function rejects(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (error: unknown) => isRoomcastError(error) && error.code === code, `expected ${code}`);
}

test('the string to sign: method, path, params but auth_signature, keys sorted', () => {
  const params = new Map([
    ['b', '2'],
    ['auth_signature', 'zzz'],
    ['a', '1'],
  ]);
  assert.equal(stringToSign('post', '/apps/1/events', params), 'POST\n/apps/1/events\na=1&b=2');
});

test('a hand-computed signature verifies (the Pusher docs worked example layout)', () => {
  const body = '{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}';
  const bodyMd5 = createHash('md5').update(body).digest('hex');
  const unsigned = `auth_key=${APP.key}&auth_timestamp=${NOW}&auth_version=1.0&body_md5=${bodyMd5}`;
  const signature = createHmac('sha256', APP.secret).update(`POST\n/apps/app-1/events\n${unsigned}`).digest('hex');
  const params = verifySignedRequest(request('POST', '/apps/app-1/events', `${unsigned}&auth_signature=${signature}`, body), APP, NOW);
  assert.equal(params.get('body_md5'), bodyMd5);
});

test('what the official pusher SDK signs is accepted, body and special characters included', () => {
  const token = new SdkToken(APP.key, APP.secret);
  const cases = [
    { method: 'POST', path: '/apps/app-1/events', body: JSON.stringify({ name: 'é', channels: ['a'], data: 'x y+z' }) },
    { method: 'GET', path: '/apps/app-1/channels', params: { filter_by_prefix: 'presence-', info: 'user_count,subscription_count' } },
    { method: 'GET', path: '/apps/app-1/channels/presence-room/users' },
  ];
  for (const sdkRequest of cases) {
    const query = sdkRequests.createSignedQueryString(token, sdkRequest);
    const now = Date.now() / 1000;
    verifySignedRequest(request(sdkRequest.method, sdkRequest.path, query, sdkRequest.body), APP, now);
  }
});

test('values are signed decoded: a percent-encoded query verifies like the raw one', () => {
  const query = signQuery(APP, 'GET', '/apps/app-1/channels', { filter_by_prefix: 'presence-', info: 'user_count,subscription_count' }, undefined, NOW);
  assert.match(query, /info=user_count%2Csubscription_count/);
  verifySignedRequest(request('GET', '/apps/app-1/channels', query), APP, NOW);
});

test('signQuery signs keys lower-cased, as the verifier reads them (a mixed-case key verifies)', () => {
  const query = signQuery(APP, 'GET', '/apps/app-1/channels', { Filter_By_Prefix: 'presence-', zInfo: 'a' }, undefined, NOW);
  assert.match(query, /Filter_By_Prefix=presence-/);
  verifySignedRequest(request('GET', '/apps/app-1/channels', query), APP, NOW);
});

test('keys are compared lower-cased; a key given twice is rejected', () => {
  assert.equal(parseSignedQuery('AUTH_KEY=x&b=1').get('auth_key'), 'x');
  rejects(() => parseSignedQuery('info=a&INFO=b'), 'RC_ERR_AUTH_DUPLICATE_PARAM');
});

test('each failed check throws its own code', () => {
  const body = '{"a":1}';
  const good = signQuery(APP, 'POST', '/apps/app-1/events', {}, body, NOW);
  verifySignedRequest(request('POST', '/apps/app-1/events', good, body), APP, NOW);

  rejects(() => verifySignedRequest(request('POST', '/apps/app-1/events', good, '{"a":2}'), APP, NOW), 'RC_ERR_AUTH_BAD_BODY_MD5');
  rejects(() => verifySignedRequest(request('POST', '/apps/app-1/events', `${good}&extra=1`, body), APP, NOW), 'RC_ERR_AUTH_BAD_SIGNATURE');
  rejects(() => verifySignedRequest(request('POST', '/apps/app-1/other', good, body), APP, NOW), 'RC_ERR_AUTH_BAD_SIGNATURE');
  rejects(() => verifySignedRequest(request('PUT', '/apps/app-1/events', good, body), APP, NOW), 'RC_ERR_AUTH_BAD_SIGNATURE');
  rejects(() => verifySignedRequest(request('POST', '/apps/app-1/events', good, body), { ...APP, secret: 'other' }, NOW), 'RC_ERR_AUTH_BAD_SIGNATURE');
  rejects(() => verifySignedRequest(request('POST', '/apps/app-1/events', good, body), { ...APP, key: 'other' }, NOW), 'RC_ERR_AUTH_UNKNOWN_KEY');
  rejects(() => verifySignedRequest(request('POST', '/apps/app-1/events', good, body), APP, NOW + 601), 'RC_ERR_AUTH_STALE_TIMESTAMP');
  rejects(() => verifySignedRequest(request('POST', '/apps/app-1/events', good, body), APP, NOW - 601), 'RC_ERR_AUTH_STALE_TIMESTAMP');
  verifySignedRequest(request('POST', '/apps/app-1/events', good, body), APP, NOW + 599);
});

test('missing parameters are named, body_md5 only when there is a body', () => {
  const query = signQuery(APP, 'GET', '/apps/app-1/channels', {}, undefined, NOW);
  for (const name of ['auth_key', 'auth_timestamp', 'auth_version', 'auth_signature']) {
    const without = query.split('&').filter((pair) => !pair.startsWith(`${name}=`)).join('&');
    assert.throws(
      () => verifySignedRequest(request('GET', '/apps/app-1/channels', without), APP, NOW),
      (error: unknown) => isRoomcastError(error) && error.code === 'RC_ERR_AUTH_MISSING_PARAM' && error.message.includes(name),
    );
  }
  // A body signed as if there were none.
  rejects(() => verifySignedRequest(request('POST', '/apps/app-1/events', query, '{}'), APP, NOW), 'RC_ERR_AUTH_MISSING_PARAM');
});

test('malformed values: version, timestamp, signature and md5 shapes', () => {
  const sign = (params: Record<string, string>) => signQuery(APP, 'GET', '/p', params, undefined, NOW);
  rejects(() => verifySignedRequest(request('GET', '/p', sign({}).replace('auth_version=1.0', 'auth_version=2.0')), APP, NOW), 'RC_ERR_AUTH_BAD_VERSION');
  rejects(() => verifySignedRequest(request('GET', '/p', sign({}).replace(`auth_timestamp=${NOW}`, 'auth_timestamp=12.5')), APP, NOW), 'RC_ERR_AUTH_BAD_TIMESTAMP');
  rejects(() => verifySignedRequest(request('GET', '/p', sign({}).replace(/auth_signature=\w+/, 'auth_signature=nothex')), APP, NOW), 'RC_ERR_AUTH_BAD_SIGNATURE');
  rejects(() => verifySignedRequest(request('GET', '/p', sign({ body_md5: 'short' })), APP, NOW), 'RC_ERR_AUTH_BAD_BODY_MD5');
  rejects(() => verifySignedRequest(request('GET', '/p', `${sign({})}&bad=%E0%A4%A`), APP, NOW), 'RC_ERR_HTTP_VALIDATION');
});

test('a path the client escaped after signing still verifies (signed decoded, sent encoded)', () => {
  const query = signQuery(APP, 'POST', '/apps/app-1/users/a b/terminate_connections', {}, '{}', NOW);
  verifySignedRequest(request('POST', '/apps/app-1/users/a%20b/terminate_connections', query, '{}'), APP, NOW);
});

test('the bad-signature error shows the string the server expected, never the secret', () => {
  const query = signQuery({ ...APP, secret: 'wrong' }, 'GET', '/apps/app-1/channels', {}, undefined, NOW);
  assert.throws(
    () => verifySignedRequest(request('GET', '/apps/app-1/channels', query), APP, NOW),
    (error: unknown) => isRoomcastError(error) && error.message.includes('GET\\n/apps/app-1/channels\\nauth_key=') && !error.message.includes(APP.secret),
  );
});

test('hex digests compare in either case; anything but hex digits of the same length never matches', () => {
  const digest = md5Hex('x');
  assert.equal(hexDigestEquals(digest, digest), true);
  assert.equal(hexDigestEquals(digest.toUpperCase(), digest), true);
  assert.equal(hexDigestEquals(digest.slice(0, -1), digest), false);
  assert.equal(hexDigestEquals(`${digest}0`, digest), false);
  const last = digest.at(-1)!;
  assert.equal(hexDigestEquals(digest.slice(0, -1) + (last === '0' ? '1' : '0'), digest), false);
  // Characters that become a hex digit once bit 0x20 is set are not hex digits: 0x10–0x19 ("0"–"9"), "A"–"F" beyond
  // the letters' range ("G" → "g" is not hex either), and the lower-case set's neighbours.
  for (const code of [0x10, 0x19, 0x40, 0x47, 0x60, 0x67, 0x2f, 0x3a]) {
    const forged = String.fromCharCode(code) + digest.slice(1);
    assert.equal(hexDigestEquals(forged, digest), false, `char 0x${code.toString(16)}`);
  }
  // The same through the verifier: an upper-case signature and body_md5 verify, as they did with a regex and a lower-cased copy.
  const body = '{"name":"e"}';
  // body_md5 is signed as sent (upper-case here); the signature is upper-cased after signing.
  const query = signQuery(APP, 'POST', '/apps/app-1/events', { body_md5: md5Hex(body).toUpperCase() }, body, NOW);
  const upper = query.replace(/auth_signature=(\w+)/, (_match, hex: string) => `auth_signature=${hex.toUpperCase()}`);
  assert.match(upper, /body_md5=[0-9A-F]{32}&auth_signature=[0-9A-F]{64}$/);
  verifySignedRequest(request('POST', '/apps/app-1/events', upper, body), APP, NOW);
  rejects(() => verifySignedRequest(request('POST', '/apps/app-1/events', upper, `${body} `), APP, NOW), 'RC_ERR_AUTH_BAD_BODY_MD5');
});

test('md5Hex hashes raw bytes', () => {
  assert.equal(md5Hex(Buffer.from('')), 'd41d8cd98f00b204e9800998ecf8427e');
});

test('hmacHex is HMAC-SHA256: the same hex as createHmac for any key and message length, buffers reused across calls', () => {
  const secrets = ['', 's', 'bench-secret-0123456789', 'k'.repeat(63), 'k'.repeat(64), 'k'.repeat(65), 'ü€'.repeat(40), 'x'.repeat(300)];
  const messages = ['', 'POST\n/apps/1/events\nauth_key=k', 'é'.repeat(300), 'm'.repeat(5000), '€'.repeat(2000), 'short again'];
  for (const secret of secrets) {
    for (const message of messages) {
      assert.equal(hmacHex(secret, message), createHmac('sha256', secret).update(message, 'utf8').digest('hex'), `${secret.length}/${message.length}`);
    }
  }
});
