/**
 * Bounded, deterministic fuzzing of both client-facing doors (seeded PRNG, a few hundred
 * inputs each, memory backend):
 * - REST: random and mutated JSON bodies, headers, query strings and paths at the signed
 *   routes, signed and unsigned;
 * - WebSocket: random and mutated frames (text, binary, huge, deeply nested, unicode,
 *   prototype keys such as "__proto__"/"constructor" in every id field).
 * Afterwards the process is alive (no uncaught exception or unhandled rejection), no
 * reply was a 5xx (the memory backend never faults, so a 5xx is a bug), every error is
 * in the common format, and a well-formed publish still reaches a subscriber.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { signQuery } from '../../src/doors/rest/signature.ts';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { RawPusherClient, waitUntil, type PusherFrame } from '../helpers/ws-client.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_2026);
const REST_CASES = 260;
const WS_FRAMES = Number(process.env.FUZZ_WS_FRAMES ?? 320);
const MAX_FRAME_BYTES = 64 * 1024;

/** mulberry32: small, fast, deterministic. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = prng(SEED);
const int = (n: number): number => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
const chance = (p: number): boolean => random() < p;

const NASTY_IDS = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf', '__defineGetter__'];
const UNICODE = ['é', 'ß', '日本', '\u{1F600}', '\u202E', '\u0000', '\uFFFF', '\uD800', '\n', '\\', '"', '%', '%zz', '&', '=', '#', '?', '/', ' '];

function randomString(maxLength = 24): string {
  const length = int(maxLength + 1);
  let out = '';
  for (let i = 0; i < length; i++) out += chance(0.25) ? pick(UNICODE) : String.fromCharCode(33 + int(94));
  return out;
}

/** An id-ish string: valid, nasty prototype key, unicode, empty, or very long. */
function randomId(prefix = ''): string {
  switch (int(6)) {
    case 0:
      return `${prefix}${pick(NASTY_IDS)}`;
    case 1:
      return `${prefix}${randomString()}`;
    case 2:
      return '';
    case 3:
      return `${prefix}${'x'.repeat(150 + int(2000))}`;
    case 4:
      return pick(NASTY_IDS);
    default:
      return `${prefix}fuzz-${int(5)}`;
  }
}

function deep(depth: number, leaf: unknown = 1): unknown {
  let value: unknown = leaf;
  for (let i = 0; i < depth; i++) value = chance(0.5) ? [value] : { [pick(NASTY_IDS)]: value };
  return value;
}

/** Deeply nested JSON as text (too deep for JSON.stringify to build). */
function deepText(depth: number): string {
  const frame = pick([['[', ']'], ['{"__proto__":', '}'], ['{"event":"pusher:subscribe","data":', '}']]);
  return `${frame[0]!.repeat(depth)}1${frame[1]!.repeat(depth)}`;
}

/** A random JSON value (bounded), sometimes hostile. */
function randomValue(level = 0): unknown {
  switch (int(level > 2 ? 6 : 10)) {
    case 0:
      return null;
    case 1:
      return random() * 1e6 - 5e5;
    case 2:
      return chance(0.5);
    case 3:
      return randomString();
    case 4:
      return pick([Number.MAX_SAFE_INTEGER, -0, 1e308, '']);
    case 5:
      return randomId();
    case 6:
      return Array.from({ length: int(4) }, () => randomValue(level + 1));
    case 7:
      return Object.fromEntries(Array.from({ length: int(4) }, () => [pick([...NASTY_IDS, 'name', 'channel', 'data', randomString(8)]), randomValue(level + 1)]));
    case 8:
      return deep(20 + int(400));
    default:
      return 'y'.repeat(int(40_000));
  }
}

/** Raw text that is JSON-adjacent: valid JSON, truncated JSON, prototype-poisoned JSON, deep brackets, garbage. */
function mutateText(text: string): string {
  switch (int(8)) {
    case 0:
      return text.slice(0, int(text.length + 1));
    case 1:
      return text.replace(/"[a-z_]+":/, '"__proto__":');
    case 2:
      return chance(0.5) ? deepText(5000 + int(60_000)) : text.replace(/"data":/, `"data":${deepText(20_000)},"x":`);
    case 3:
      return `{"constructor":{"prototype":{"polluted":true}},${text.slice(1)}`;
    case 4: {
      const at = int(text.length + 1);
      return text.slice(0, at) + randomString(6) + text.slice(at);
    }
    case 5:
      return Buffer.from(Array.from({ length: int(200) }, () => int(256))).toString('latin1');
    case 6:
      return '';
    default:
      return text;
  }
}

function randomEvent(): Record<string, unknown> {
  const event: Record<string, unknown> = { name: chance(0.8) ? 'fuzz-event' : randomValue(), data: chance(0.5) ? 'hello' : randomValue() };
  if (chance(0.5)) event.channel = chance(0.6) ? `fuzz-${int(3)}` : randomValue();
  else event.channels = chance(0.6) ? Array.from({ length: int(120) }, (_, i) => `fuzz-${i}`) : randomValue();
  if (chance(0.2)) event.socket_id = chance(0.5) ? `${int(1000)}.${int(1000)}` : randomValue();
  if (chance(0.2)) event.info = chance(0.5) ? 'subscription_count,user_count' : randomValue();
  if (chance(0.2)) event.idempotency_key = chance(0.5) ? `key-${int(4)}` : randomValue();
  if (chance(0.2)) event[pick(NASTY_IDS)] = randomValue();
  return event;
}

function randomBody(): string {
  if (chance(0.35)) return mutateText(JSON.stringify(randomEvent()));
  if (chance(0.4)) return JSON.stringify(randomEvent());
  const batch = { batch: chance(0.8) ? Array.from({ length: int(14) }, randomEvent) : randomValue(), idempotency_key: chance(0.3) ? `b-${int(3)}` : undefined };
  return chance(0.3) ? mutateText(JSON.stringify(batch)) : JSON.stringify(batch);
}

/** Lone surrogates cannot be percent-encoded; the fuzzer sends them raw elsewhere. */
const wellFormed = (text: string): string => text.replace(/[\uD800-\uDFFF]/g, '?');
const encode = (text: string): string => encodeURIComponent(wellFormed(text));

function randomPath(): { method: string; path: string } {
  const app = chance(0.85) ? TEST_APP.id : randomId();
  const channel = chance(0.5) ? pick(['fuzz-0', 'presence-fuzz', 'private-x', 'cache-y']) : randomId(pick(['', 'presence-']));
  const route = int(8);
  const method = chance(0.9) ? (route <= 1 || route === 5 ? 'POST' : 'GET') : pick(['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'POST', 'GET']);
  const safe = (text: string): string => (chance(0.8) ? encode(text) : text.replace(/[\s#?]/g, ''));
  switch (route) {
    case 0:
      return { method, path: `/apps/${safe(app)}/events` };
    case 1:
      return { method, path: `/apps/${safe(app)}/batch_events` };
    case 2:
      return { method, path: `/apps/${safe(app)}/channels` };
    case 3:
      return { method, path: `/apps/${safe(app)}/channels/${safe(channel)}` };
    case 4:
      return { method, path: `/apps/${safe(app)}/channels/${safe(channel)}/users` };
    case 5:
      return { method, path: `/apps/${safe(app)}/users/${safe(randomId())}/terminate_connections` };
    case 6: {
      // The other signed routes (history, messages, spaces), with hostile ids.
      const tail = pick(['history', 'history/state', 'history/purge', 'history/reset', 'presence/history/state', `messages/${safe(randomId())}`, `messages/${safe(randomId())}/versions`]);
      if (chance(0.2)) return { method, path: `/apps/${safe(app)}/spaces/${safe(randomId())}${pick(['', '/rooms', '/bots'])}` };
      return { method: chance(0.5) ? method : pick(['GET', 'POST']), path: `/apps/${safe(app)}/channels/${safe(channel)}/${tail}` };
    }
    default:
      return { method, path: pick(['/apps', '/apps/', '/apps//events', `/apps/${safe(app)}/%E0%A4%A`, '/apps/%zz/events', `/apps/${safe(app)}/../up`]) };
  }
}

function randomQuery(method: string, path: string, body: string | undefined): string {
  const params: Record<string, string> = {};
  if (chance(0.3)) params.info = chance(0.5) ? 'user_count,subscription_count' : wellFormed(randomString());
  if (chance(0.3)) params.filter_by_prefix = chance(0.5) ? 'presence-' : wellFormed(randomId());
  if (chance(0.1)) params[pick(NASTY_IDS).toLowerCase()] = wellFormed(randomString());
  if (chance(0.2)) {
    // Unsigned: random parameters only.
    return Object.entries(params).map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&');
  }
  const timestamp = chance(0.9) ? undefined : pick([0, 1, 9_999_999_999, Math.floor(Date.now() / 1000) - 700]);
  let query = signQuery(TEST_APP, method, decodeSafely(path), params, body, timestamp);
  switch (int(10)) {
    case 0:
      query = query.replace(/auth_signature=[0-9a-f]+/, `auth_signature=${randomString(64)}`);
      break;
    case 1:
      query += `&${pick(['auth_key', 'AUTH_KEY', 'body_md5', 'auth_version'])}=${encode(randomString(8))}`;
      break;
    case 2:
      query = query.replace(/auth_key=[^&]*/, `auth_key=${encode(randomId())}`);
      break;
    case 3:
      query = query.replace(/&[^&]*$/, '');
      break;
    case 4:
      query += `&${pick(['%', '%E0%A4%A', '=&=', '&&&', '__proto__=1', 'a=%00'])}`;
      break;
    default:
      break;
  }
  return query;
}

function decodeSafely(path: string): string {
  try {
    return decodeURI(path);
  } catch {
    return path;
  }
}

function randomHeaders(body: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (body !== undefined && chance(0.85)) {
    headers['content-type'] = pick(['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', '', 'application/json; charset=latin1', '*/*']);
  }
  if (chance(0.1)) headers['content-encoding'] = pick(['gzip', 'br', 'identity', 'x-nonsense']);
  if (chance(0.1)) headers['x-request-id'] = pick(['ok-id', '\u00ff', 'x'.repeat(500), '__proto__']);
  if (chance(0.05)) headers.accept = pick(['text/html', 'application/xml', '*/*']);
  return headers;
}

let running: RunningApp;
let watcher: RawPusherClient;
const faults: string[] = [];
const onUncaught = (error: Error): void => void faults.push(`uncaughtException: ${error.stack ?? error.message}`);
const onUnhandled = (reason: unknown): void => void faults.push(`unhandledRejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`);

before(async () => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUnhandled);
  running = await startApp(
    testConfig({
      websocket: { maxFrameBytes: MAX_FRAME_BYTES },
      apps: [{ ...TEST_APP, clientEvents: true, limits: { restRequestsPerWindow: 0, clientEventsPerSecond: 0 } }],
    }),
  );
  watcher = await RawPusherClient.connect(running.port);
  assert.equal((await watcher.subscribe('fuzz-watch')).event, 'pusher_internal:subscription_succeeded');
});

after(async () => {
  watcher?.close();
  await running?.close();
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUnhandled);
});

/** The process still serves, and a well-formed publish reaches the watcher. */
async function assertHealthy(): Promise<void> {
  assert.deepEqual(faults, []);
  assert.equal((await fetch(`${running.url}/up`)).status, 200);
  const marker = `marker-${int(1e9)}`;
  const body = JSON.stringify({ name: 'after-fuzz', channel: 'fuzz-watch', data: marker });
  const path = `/apps/${TEST_APP.id}/events`;
  const response = await fetch(`${running.url}${path}?${signQuery(TEST_APP, 'POST', path, {}, body)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  assert.equal(response.status, 200, await response.text());
  const frame = await watcher.next((f) => f.event === 'after-fuzz' && f.data === marker);
  assert.equal(frame.channel, 'fuzz-watch');
}

test(`REST fuzz: ${REST_CASES} random requests, never a 5xx, always the common error format`, async () => {
  const statuses = new Map<number, number>();
  for (let i = 0; i < REST_CASES; i++) {
    const { method, path } = randomPath();
    const body = method === 'GET' || method === 'HEAD' ? undefined : chance(0.9) ? randomBody() : undefined;
    const query = randomQuery(method, path, body);
    const headers = randomHeaders(body);
    const what = `#${i} ${method} ${path.slice(0, 120)}?${query.slice(0, 200)} body=${(body ?? '').slice(0, 200)}`;
    const response = await fetch(`${running.url}${path}${query === '' ? '' : `?${query}`}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: Buffer.from(body) }),
    });
    const text = await response.text();
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    assert.ok(response.status < 500, `${what} → ${response.status} ${text.slice(0, 300)}`);
    if (response.status >= 400 && method !== 'HEAD') {
      let json: { code?: unknown; message?: unknown; request_id?: unknown };
      try {
        json = JSON.parse(text) as typeof json;
      } catch {
        assert.fail(`${what} → ${response.status} not JSON: ${text.slice(0, 300)}`);
      }
      assert.match(String(json.code), /^RC_ERR_[A-Z0-9_]+$/, `${what} → ${text.slice(0, 300)}`);
      assert.equal(typeof json.message, 'string', what);
      assert.equal(typeof json.request_id, 'string', what);
    }
  }
  // The mix must exercise more than the signature check: some requests got past it.
  assert.ok((statuses.get(200) ?? 0) > 5, `too few successes: ${JSON.stringify([...statuses])}`);
  assert.ok((statuses.get(400) ?? 0) > 20, `too few 400s: ${JSON.stringify([...statuses])}`);
  assert.ok((statuses.get(401) ?? 0) > 20, `too few 401s: ${JSON.stringify([...statuses])}`);
  await assertHealthy();
});

function sign(text: string): string {
  return `${TEST_APP.key}:${createHmac('sha256', TEST_APP.secret).update(text).digest('hex')}`;
}

/** A frame for `socketId`: mostly protocol-shaped (often correctly signed) with hostile fields. */
function randomFrame(socketId: string): string | Buffer {
  const kind = int(12);
  if (kind === 0) return Buffer.from(Array.from({ length: int(300) }, () => int(256)));
  if (kind === 1) return mutateText(JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'fuzz-0' } }));
  if (kind === 2) return deepText(100 + int(50_000));
  if (kind === 3) return JSON.stringify({ event: pick(['pusher:ping', 'pusher:pong', randomString(), `client-${randomId()}`, 'pusher_internal:member_added', '']), data: randomValue(), channel: randomValue() });
  const channel = chance(0.6) ? randomId(pick(['presence-', 'private-', 'cache-', 'private-encrypted-', '#server-to-user-', ''])) : pick(['presence-fuzz', 'private-fuzz', 'fuzz-0']);
  const channelData = chance(0.7) ? JSON.stringify({ user_id: chance(0.5) ? randomId() : randomValue(), user_info: randomValue() }) : (randomValue() as string);
  switch (kind) {
    case 4:
    case 5:
    case 6: {
      const data: Record<string, unknown> = { channel };
      if (chance(0.8)) {
        data.channel_data = channelData;
        data.auth = chance(0.8) && typeof channelData === 'string' ? sign(`${socketId}:${channel}:${channelData}`) : randomValue();
      } else if (chance(0.7)) {
        data.auth = sign(`${socketId}:${channel}`);
      }
      if (chance(0.1)) data[pick(NASTY_IDS)] = randomValue();
      if (chance(0.25)) data.last_serial = chance(0.5) ? pick(['00000000001', '99999999999', '0', '-1', '1e9']) : randomValue();
      if (chance(0.15)) data.annotations = chance(0.5) ? true : randomValue();
      return JSON.stringify({ event: 'pusher:subscribe', data: chance(0.8) ? data : JSON.stringify(data) });
    }
    case 7:
      return JSON.stringify({ event: 'pusher:unsubscribe', data: { channel: chance(0.7) ? channel : randomValue() } });
    case 8: {
      const userData = chance(0.8) ? JSON.stringify({ id: chance(0.6) ? randomId() : randomValue(), user_info: randomValue() }) : randomString();
      return JSON.stringify({ event: 'pusher:signin', data: { user_data: userData, auth: chance(0.8) ? sign(`${socketId}::user::${userData}`) : randomValue() } });
    }
    case 9:
      return JSON.stringify({ event: `client-${chance(0.7) ? 'x' : randomId()}`, channel: chance(0.7) ? pick(['presence-fuzz', 'private-fuzz', 'fuzz-0', channel]) : randomValue(), data: randomValue() });
    case 10:
      return `${JSON.stringify({ event: 'pusher:subscribe', data: { channel } })}`.repeat(1 + int(3));
    default:
      return 'z'.repeat(MAX_FRAME_BYTES + int(1024 * 1024));
  }
}

function assertFrameOk(frame: PusherFrame, what: string): void {
  if (frame.event === 'pusher:error') {
    const data = frame.data as { code?: unknown; message?: unknown; rc_code?: unknown };
    assert.equal(typeof data.code, 'number', `${what}: ${JSON.stringify(frame).slice(0, 300)}`);
    assert.equal(typeof data.message, 'string', what);
    assert.match(String(data.rc_code), /^RC_ERR_/, what);
    assert.notEqual(data.rc_code, 'RC_ERR_INTERNAL', `${what}: ${JSON.stringify(frame).slice(0, 400)}`);
    assert.ok((data.code as number) < 4200 || (data.code as number) >= 4300, `${what}: a reconnect code without a backend fault: ${JSON.stringify(frame).slice(0, 300)}`);
  }
  if (frame.event === 'pusher:subscription_error') {
    const data = frame.data as { status?: number; rc_code?: string };
    assert.ok((data.status ?? 0) < 500, `${what}: ${JSON.stringify(frame).slice(0, 300)}`);
  }
}

test(`WebSocket fuzz: ${WS_FRAMES} random frames, never a crash or an internal error`, async () => {
  const clients: RawPusherClient[] = [];
  let replaced = 0;
  // Half speak protocol 2 (protocol 7 plus the message model: last_serial recovery, annotations).
  const fresh = async (): Promise<RawPusherClient> =>
    RawPusherClient.connect(running.port, TEST_APP.key, chance(0.5) ? 'protocol=7&client=fuzz' : `protocol=2&client=fuzz${chance(0.5) ? '&append=full' : ''}`);
  for (let i = 0; i < 4; i++) clients.push(await fresh());
  for (let i = 0; i < WS_FRAMES; i++) {
    const slot = int(clients.length);
    let client = clients[slot]!;
    if (client.ws.readyState !== WebSocket.OPEN) {
      for (const frame of client.frames) assertFrameOk(frame, `closed client #${slot}`);
      client = await fresh();
      clients[slot] = client;
      replaced++;
    }
    const frame = randomFrame(client.socketId);
    const started = Date.now();
    const what = `frame #${i} ${typeof frame === 'string' ? frame.slice(0, 200) : `<binary ${frame.length}>`}`;
    client.ws.send(frame, { binary: Buffer.isBuffer(frame) });
    if (typeof frame === 'string' && Buffer.byteLength(frame) > MAX_FRAME_BYTES) {
      // Oversized: the server closes with 1009 (message too big); the next frame gets a new socket.
      const { code } = await client.closed;
      assert.equal(code, 1009, what);
    } else {
      // A ping after every frame: its pong proves the frame was handled and the socket lives on.
      client.send({ event: 'pusher:ping', data: {} });
      await client.nextEvent('pusher:pong', undefined, 5000);
    }
    for (const received of client.frames) assertFrameOk(received, what);
    if (process.env.FUZZ_TRACE && Date.now() - started > 300) console.log(Date.now() - started, what.slice(0, 150));
  }
  for (const client of clients) {
    for (const frame of client.frames) assertFrameOk(frame, 'final');
    client.close();
  }
  assert.ok(replaced > 0, 'no oversized frame closed a connection; the generator is broken');
  await Promise.all(clients.map((client) => client.closed));
  // Every fuzzed connection is gone: nothing of theirs stays behind.
  await waitUntil(() => running.app.core.hub.localCount(TEST_APP.id, 'presence-fuzz') === 0, 5000, 'fuzz sockets to leave presence-fuzz');
  assert.deepEqual(await running.app.core.presenceMembers(TEST_APP.id, 'presence-fuzz'), []);
  await assertHealthy();
});

test('an upgrade request whose target is not a URL is refused, and the process lives on', async () => {
  const { connect } = await import('node:net');
  for (const target of ['//', '///', '//[', '/\\', '//a:b@']) {
    const reply = await new Promise<string>((resolve) => {
      const socket = connect(running.port, '127.0.0.1', () =>
        socket.write(
          `GET ${target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        ),
      );
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text));
    });
    assert.match(reply, /^HTTP\/1\.1 4\d\d /, `${target}: ${reply}`);
  }
  await assertHealthy();
});
