import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCookieSeal, parseCookieHeader } from '../../../../src/doors/bayeux/cookies.ts';

const COOKIE_OCTETS = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]+$/;

test('issued cookies are name=value; Version=1 with cookie-octet values, and open back to the session', () => {
  const seal = createCookieSeal('a-test-secret-of-enough-length');
  const [session, route] = seal.issue('c2Vzc2lvbg', 'node-a');
  assert.match(session, /^API-Cookie=!/);
  assert.match(route, /^API-Route=!/);
  for (const header of [session, route]) {
    const [pair, attribute] = header.split('; ');
    assert.equal(attribute, 'Version=1');
    assert.match(pair!.slice(pair!.indexOf('=') + 1), COOKIE_OCTETS);
  }
  const sent = `${session.split(';')[0]}; ${route.split(';')[0]}`;
  assert.deepEqual(seal.open(sent), { sessionId: 'c2Vzc2lvbg', nodeId: 'node-a' });
});

test('a cookie sealed by another secret is told apart from an altered one', () => {
  const [session, route] = createCookieSeal('a-test-secret-of-enough-length').issue('abc', 'n');
  const other = createCookieSeal(undefined);
  assert.throws(() => other.open(`${session.split(';')[0]}; ${route.split(';')[0]}`), { code: 'RC_ERR_BOT_COOKIE_UNKNOWN_SECRET' });
  // The old format (no key id) cannot be ours: altered.
  assert.throws(() => other.open(`API-Cookie=!abc.${'A'.repeat(43)}; API-Route=!bg.${'A'.repeat(43)}`), { code: 'RC_ERR_BOT_COOKIE_TAMPERED' });
});

test('parseCookieHeader is strict RFC 6265', () => {
  assert.deepEqual([...parseCookieHeader('a=1; b=2;c=3')], [['a', '1'], ['b', '2'], ['c', '3']]);
  assert.equal(parseCookieHeader('').size, 0);
  const bad = ['a=1;', 'a', 'a=1; Secure', 'a=1; $Path=/', 'a=1; max-age=5', 'a="1"', 'a=1 2', 'a=1,b=2', 'a b=1', 'a=\\1'];
  for (const header of bad) assert.throws(() => parseCookieHeader(header), { code: 'RC_ERR_BOT_COOKIE_MALFORMED' }, header);
  assert.throws(() => parseCookieHeader('API-Cookie=%21abc'), /URL-encoded/);
  assert.throws(() => parseCookieHeader('API-Route=a; API-Route=a'), /sent twice/);
});

test('a MAC whose last character only differs in the unused low bits is still rejected (regression)', () => {
  const seal = createCookieSeal('0123456789abcdef0123456789abcdef');
  const [sessionCookie, routeCookie] = seal.issue('session-id-123', 'node-a').map((c) => c.split(';')[0]!);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = sessionCookie!.at(-1)!;
  // The same top 4 bits: the characters that decode to the same final byte.
  const siblings = [...alphabet].filter((c) => c !== last && alphabet.indexOf(c) >> 2 === alphabet.indexOf(last) >> 2);
  assert.ok(siblings.length > 0);
  for (const sibling of siblings) {
    assert.throws(() => seal.open(`${sessionCookie!.slice(0, -1)}${sibling}; ${routeCookie}`), /altered/);
  }
});

test('a verified cookie pair is remembered once, whatever else the header carries; altered values are verified afresh', () => {
  const seal = createCookieSeal('0123456789abcdef0123456789abcdef');
  const [sessionCookie, routeCookie] = seal.issue('remembered-session', 'node-a').map((c) => c.split(';')[0]!);
  const header = `${sessionCookie}; ${routeCookie}`;
  assert.equal(seal.rememberedPairs, 0);
  assert.equal(seal.open(header).sessionId, 'remembered-session');
  assert.equal(seal.rememberedPairs, 1);
  assert.equal(seal.open(header).sessionId, 'remembered-session');
  // Other cookies (a load balancer's, or junk to grow a cache) add no entry: the key is the pair.
  for (let i = 0; i < 50; i++) assert.equal(seal.open(`${header}; lb${i}=${'x'.repeat(100)}`).sessionId, 'remembered-session');
  assert.equal(seal.rememberedPairs, 1);
  // One character changed after the good pair was remembered: still refused, and not remembered.
  const altered = header.replace('remembered', 'rememberex');
  assert.throws(() => seal.open(altered), { code: 'RC_ERR_BOT_COOKIE_TAMPERED' });
  assert.equal(seal.rememberedPairs, 1);
  // The header is still parsed strictly every time, and a missing cookie is still 412's code.
  assert.throws(() => seal.open(`${header}; Version=1`), { code: 'RC_ERR_BOT_COOKIE_MALFORMED' });
  assert.throws(() => seal.open(sessionCookie), { code: 'RC_ERR_BOT_COOKIE_MISSING' });
});
