/**
 * Issue 13, items 1 and 2: connection hygiene on the one HTTP listener, and the REST
 * signature checked before the body is read.
 *
 * Before: `requestTimeout: 0` also turned off Node's header timeout, so connections sending
 * unfinished headers, unfinished bodies or nothing at all were never closed; and an
 * unsigned `POST /apps/{id}/events` declaring 900 KB was buffered until its last byte
 * before the signature was looked at (no answer while the body trickled in).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { signQuery } from '../../src/doors/rest/signature.ts';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { login } from '../helpers/bots.ts';

let running: RunningApp;

before(async () => {
  running = await startApp(
    testConfig({
      server: { host: '127.0.0.1', port: 0, headersTimeoutMs: 1000, requestTimeoutMs: 2000, keepAliveTimeoutMs: 1000, idleTimeoutMs: 3000, maxConnectionsPerAddress: 40 },
      bots: { connectTimeoutMs: 4500, maxEventLoopDelayMs: 0 },
    }),
  );
});
after(async () => running?.close());

interface Probe {
  readonly socket: Socket;
  readonly received: () => string;
  /** Resolves with ms from open to close. */
  readonly closed: Promise<number>;
}

function open(write: (socket: Socket) => void): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let text = '';
    const socket = connect(running.port, '127.0.0.1', () => {
      write(socket);
      resolve({ socket, received: () => text, closed });
    });
    const closed = new Promise<number>((done) => socket.on('close', () => done(Date.now() - started)));
    socket.on('data', (chunk) => (text += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.once('error', reject);
  });
}

/** TCP connections the server holds open now (its side of each closes a moment after the client's). */
function serverConnections(): Promise<number> {
  return new Promise((resolve, reject) => running.app.http.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

/** Waits until the server holds at most `count` connections (bounded), then for its close handlers to have run. */
async function untilServerHolds(count: number, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await serverConnections()) > count) {
    if (Date.now() > deadline) throw new Error(`${what}: the server still holds ${await serverConnections()} connections after 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await new Promise((resolve) => setImmediate(resolve));
}

/** Fails the test rather than hanging when the server never closes. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms).unref())]);
}

test('connections that send nothing, unfinished headers or an unfinished body are closed within the timeouts', async () => {
  const path = `/apps/${TEST_APP.id}/events`;
  const signedBody = JSON.stringify({ name: 'e', channel: 'c', data: 'x'.repeat(200) });
  const signed = signQuery(TEST_APP, 'POST', path, {}, signedBody);
  const probes = await Promise.all([
    open(() => {}),
    open((socket) => socket.write('GET /up HTTP/1.1\r\nHost: x\r\nX-Slow: ')),
    open((socket) => socket.write(`POST ${path}?${signed} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${signedBody.length}\r\n\r\n${signedBody.slice(0, 20)}`)),
    open((socket) => socket.write('POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"room":')),
  ]);
  const times = await within(Promise.all(probes.map((probe) => probe.closed)), 8000, 'slow connections closed');
  // Headers: 1 s; whole request: 2 s (plus Node's check interval and a loaded machine's slack).
  assert.ok(times[0]! < 4000 && times[1]! < 4000, `header timeouts: ${times.join(', ')} ms`);
  assert.ok(times[2]! < 6000 && times[3]! < 6000, `request timeouts: ${times.join(', ')} ms`);
  // A request cut by the timeout is told so in the common error format.
  assert.match(probes[2]!.received(), /^HTTP\/1\.1 408 [^]*"code":"RC_ERR_HTTP_REQUEST_TIMEOUT"/);
});

test('a burst of unfinished login bodies larger than Node\'s default listen backlog connects at once; each is answered 408 and closed', async (t) => {
  // Node listens with a backlog of 511 unless told otherwise: a burst past it overflowed the
  // accept queue, the kernel dropped those SYNs, and those clients connected only after the
  // SYN was retransmitted (1 s at the earliest), so they were closed a second past their
  // bound as the client sees it. Connecting is the kernel's work: on a loaded machine only
  // this process's own delay in running the connect callbacks adds to it, never a whole second.
  const count = 1200;
  const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
  if (!(somaxconn > count)) {
    t.skip(`net.core.somaxconn ${somaxconn} caps the listen backlog below ${count}`);
    return;
  }
  const burst = await startApp(
    testConfig({
      server: { host: '127.0.0.1', port: 0, headersTimeoutMs: 1000, requestTimeoutMs: 2000, maxConnectionsPerAddress: 0 },
      bots: { maxEventLoopDelayMs: 0 },
    }),
  );
  try {
    // Opened in one tick: the server accepts nothing until they are all in the kernel's queue.
    const outcomes = Array.from(
      { length: count },
      () =>
        new Promise<{ connectMs: number; closeMs: number; reply: string }>((resolve) => {
          const started = Date.now();
          let connectMs = Number.NaN;
          let reply = '';
          const socket = connect(burst.port, '127.0.0.1', () => {
            connectMs = Date.now() - started;
            socket.write('POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"room":');
          });
          socket.on('data', (chunk) => (reply += chunk.toString('latin1')));
          socket.on('error', () => {});
          socket.on('close', () => resolve({ connectMs, closeMs: Date.now() - started, reply }));
        }),
    );
    const closed = await within(Promise.all(outcomes), 15_000, 'the burst closed');
    const unanswered = closed.filter((outcome) => !/^HTTP\/1\.1 408 /.test(outcome.reply));
    assert.equal(unanswered.length, 0, `${unanswered.length} of ${count} not answered 408, e.g. ${JSON.stringify(unanswered[0]?.reply.slice(0, 40))}`);
    const retransmitted = closed.filter((outcome) => !(outcome.connectMs < 1000));
    const slowest = (key: 'connectMs' | 'closeMs'): number => Math.max(...closed.map((outcome) => outcome[key]));
    assert.equal(retransmitted.length, 0, `${retransmitted.length} of ${count} connected 1 s or more after connect() (slowest ${slowest('connectMs')} ms): their SYNs were dropped`);
    t.diagnostic(`slowest connect ${slowest('connectMs')} ms, slowest close ${slowest('closeMs')} ms (requestTimeoutMs 2000)`);
  } finally {
    await burst.close();
  }
});

test('requests Node refuses before any route (headers too large, malformed) get the common error body', async () => {
  const huge = await open((socket) => socket.write(`GET /up?x=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`));
  await within(huge.closed, 5000, 'closed after 431');
  assert.match(huge.received(), /^HTTP\/1\.1 431 [^]*"code":"RC_ERR_HTTP_HEADERS_TOO_LARGE"/);
  const garbage = await open((socket) => socket.write('BREW /pot HTTP/9\r\n\r\n'));
  await within(garbage.closed, 5000, 'closed after 400');
  assert.match(garbage.received(), /^HTTP\/1\.1 400 [^]*"code":"RC_ERR_HTTP_VALIDATION"/);
});

test('an idle keep-alive connection is closed after keepAliveTimeoutMs', async () => {
  const probe = await open((socket) => socket.write('GET /up HTTP/1.1\r\nHost: x\r\n\r\n'));
  const ms = await within(probe.closed, 8000, 'idle keep-alive closed');
  assert.match(probe.received(), /^HTTP\/1\.1 200/);
  assert.ok(ms < 5000, `${ms} ms`);
});

test('a held Bayeux connect outlives the request and idle timeouts, and is answered normally', async () => {
  const bot = await login(running.url);
  assert.equal(bot.status, 200);
  const post = (messages: unknown) =>
    fetch(`${running.url}/api/v1/bayeux`, { method: 'POST', headers: { 'content-type': 'application/json', cookie: bot.cookie }, body: JSON.stringify(messages) });
  const [shake] = (await (await post([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }])).json()) as { clientId: string }[];
  await post([{ channel: '/meta/connect', clientId: shake!.clientId, connectionType: 'long-polling' }]);
  const started = Date.now();
  const held = await post([{ channel: '/meta/connect', clientId: shake!.clientId, connectionType: 'long-polling' }]);
  const replies = (await held.json()) as { successful: boolean }[];
  assert.equal(held.status, 200);
  assert.equal(replies[0]!.successful, true);
  // Held past requestTimeoutMs (2 s) and idleTimeoutMs (3 s), up to the door's own hold (4.5 s).
  assert.ok(Date.now() - started > 3500, `held only ${Date.now() - started} ms`);
});

test('connections past server.maxConnectionsPerAddress are closed at once', async () => {
  const baseline = await serverConnections();
  const held: Probe[] = [];
  try {
    for (let i = 0; i < 40; i++) held.push(await open(() => {}));
    const extra = await open(() => {});
    const ms = await within(extra.closed, 2000, 'the 41st connection closed');
    assert.ok(ms < 1000, `${ms} ms`);
  } finally {
    for (const probe of held) probe.socket.destroy();
    await Promise.all(held.map((probe) => probe.closed));
    // The server sees them close a moment later (on a loaded machine, more than a fixed wait); the next 40 need the slots back.
    await untilServerHolds(baseline, 'the first 40 released');
  }
  // Their slots were given back at close: 40 connections from the address are held again.
  const again: Probe[] = [];
  try {
    for (let i = 0; i < 40; i++) again.push(await open(() => {}));
    const refused = await Promise.race([again[39]!.closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 500))]);
    assert.equal(refused, false, 'the 40th connection after the release was closed');
  } finally {
    for (const probe of again) probe.socket.destroy();
    await Promise.all(again.map((probe) => probe.closed));
    // Later tests need the slots back.
    await untilServerHolds(baseline, 'the second 40 released');
  }
});

test('an unsigned 900 KB upload is refused (401) before its body arrives, and its connection closed', async () => {
  const path = `/apps/${TEST_APP.id}/events`;
  const declared = 900 * 1024;
  const probe = await open((socket) => {
    socket.write(`POST ${path}?auth_key=${TEST_APP.key}&auth_timestamp=1&auth_version=1.0&body_md5=${'0'.repeat(32)}&auth_signature=${'0'.repeat(64)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`);
    socket.write(Buffer.alloc(64 * 1024, 0x20));
  });
  // Answered while the body is still missing ~836 KB: the URL alone decided.
  await within(
    (async () => {
      while (!probe.received().includes('\r\n\r\n')) await new Promise((resolve) => setTimeout(resolve, 20));
    })(),
    3000,
    'a reply before the body finished',
  );
  assert.match(probe.received(), /^HTTP\/1\.1 401 /);
  assert.match(probe.received(), /connection: close/i);
  assert.match(probe.received(), /RC_ERR_AUTH_/);
  await within(probe.closed, 3000, 'the connection closed after the refusal');
});

test('a signed request whose body does not match body_md5 is refused once the body is in; an oversized body at once', async () => {
  const path = `/apps/${TEST_APP.id}/events`;
  const body = JSON.stringify({ name: 'e', channel: 'c', data: 'hello' });
  const query = signQuery(TEST_APP, 'POST', path, {}, body);
  const changed = await fetch(`${running.url}${path}?${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body.replace('hello', 'HELLO') });
  assert.equal(changed.status, 401);
  assert.equal(((await changed.json()) as { code: string }).code, 'RC_ERR_AUTH_BAD_BODY_MD5');

  const huge = 'x'.repeat(running.config.server.bodyLimitBytes + 10);
  const hugeQuery = signQuery(TEST_APP, 'POST', path, {}, huge);
  const tooBig = await fetch(`${running.url}${path}?${hugeQuery}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: huge });
  assert.equal(tooBig.status, 413);
  assert.equal(((await tooBig.json()) as { code: string }).code, 'RC_ERR_HTTP_BODY_TOO_LARGE');
});

test('a login body is capped: a large one is refused (413) as it arrives', async () => {
  const response = await fetch(`${running.url}/api/v1/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ room: 'LOBBY-CODE', token: 'BOT-TOKEN', pad: 'x'.repeat(100_000) }),
  });
  assert.equal(response.status, 413);
  const body = (await response.json()) as { code: string; message: string };
  assert.equal(body.code, 'RC_ERR_HTTP_BODY_TOO_LARGE');
  assert.match(body.message, /larger than 4096 bytes/, 'the message names the login body limit');
});
