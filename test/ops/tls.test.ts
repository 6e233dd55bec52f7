/**
 * TLS on the main port with a certificate made at test time: real clients over https://
 * and wss:// (in a child trusting the test CA), the plain-HTTP port's answers (the FAQ's
 * 404 naming https:// for a login), and certificate reloads (config reload and a file
 * replaced on disk) that keep an open WebSocket working while new handshakes see the new
 * certificate; TLS files that do not load keep the old certificate.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { buildApp, type RoomcastApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { MAX_WARMUP_MS } from '../../src/doors/loop-watch.ts';
import { until } from '../helpers/bots.ts';
import { signQuery } from '../../src/doors/rest/signature.ts';
import { createTestPki, type TestPki } from '../helpers/tls.ts';
import { tsNodeArgs } from '../helpers/ts-node-args.ts';

const run = promisify(execFile);
let pki: TestPki;
let app: RoomcastApp;
let url: string;
let configPath: string;
let live: { cert: string; key: string };

function config(tls: Record<string, unknown>): Record<string, unknown> {
  return {
    server: { host: '127.0.0.1', port: 0, httpPort: 0, tls },
    log: { level: 'silent' },
    bots: { maxEventLoopDelayMs: 0, connectTimeoutMs: 2000 },
    apps: [{ id: 'app-1', key: 'app-key', secret: 'app-secret' }],
    spaces: [{ id: 'acme', app: 'app-1', rooms: [{ id: 'lobby', code: 'LOBBY-CODE' }], bots: [{ id: 'helper-bot', token: 'BOT-TOKEN' }] }],
  };
}

/** The SHA-256 fingerprint a fresh TLS handshake sees. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: pki.ca, servername: 'localhost' }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

before(async () => {
  pki = createTestPki();
  const first = pki.issue('first');
  // The served files are copies, so a test can replace them on disk.
  live = { cert: join(pki.dir, 'live.crt'), key: join(pki.dir, 'live.key') };
  copyFileSync(first.cert, live.cert);
  copyFileSync(first.key, live.key);
  configPath = join(mkdtempSync(join(tmpdir(), 'rc-tls-config-')), 'roomcast.json');
  writeFileSync(configPath, JSON.stringify(config({ ...live, watchIntervalMs: 100 })));
  app = await buildApp(loadConfig({ path: configPath, env: {} }), { configSource: { path: configPath, env: {} } });
  url = await app.listen();
});

after(async () => {
  await app.close();
});

test('pusher-js (forceTLS), the pusher SDK (useTLS), faye and cometd over https:// and wss://', async () => {
  assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const { stdout } = await run(process.execPath, [...tsNodeArgs(), 'test/ops/tls-clients.child.ts', url], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: pki.caPath },
    timeout: 120_000,
  });
  assert.match(stdout, /pusher-js forceTLS \+ pusher useTLS: ok/);
  assert.match(stdout, /faye https: ok/);
  assert.match(stdout, /cometd https: ok/);
});

test('the plain-HTTP port: login → 404 naming https://, probes answer, nothing else is served or redirected', async () => {
  const plain = app.plainHttpAddress();
  assert.ok(plain !== null && plain.startsWith('http://'));
  const login = await fetch(`${plain}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"room":"LOBBY-CODE","token":"BOT-TOKEN"}', redirect: 'manual' });
  assert.equal(login.status, 404);
  const body = (await login.json()) as { code: string; message: string };
  assert.equal(body.code, 'RC_ERR_HTTP_TLS_REQUIRED');
  assert.match(body.message, new RegExp(`https://127\\.0\\.0\\.1:${new URL(url).port}/api/v1/login`));
  assert.equal(login.headers.get('location'), null);
  assert.equal((await fetch(`${plain}/up`)).status, 200);
  // 503 RC_ERR_NODE_WARMING until the node's first calm second (at most MAX_WARMUP_MS after start; a loaded machine
  // can keep every window's p99 above the calm bound until then), then 200 ready.
  let ready = await fetch(`${plain}/ready`);
  for (const deadline = Date.now() + MAX_WARMUP_MS + 5000; ready.status === 503 && Date.now() < deadline; ) {
    assert.equal(((await ready.json()) as { code: string }).code, 'RC_ERR_NODE_WARMING');
    await new Promise((resolve) => setTimeout(resolve, 100));
    ready = await fetch(`${plain}/ready`);
  }
  assert.equal(ready.status, 200);
  assert.equal(((await ready.json()) as { status: string }).status, 'ready');
  const other = await fetch(`${plain}/apps/app-1/channels`, { redirect: 'manual' });
  assert.equal(other.status, 404);
  const otherBody = (await other.json()) as { code: string; request_id: string };
  assert.equal(otherBody.code, 'RC_ERR_HTTP_TLS_REQUIRED');
  // Request ids as on the main port: the header on every answer, the caller's when safe, the node's generator otherwise.
  assert.equal(other.headers.get('x-request-id'), otherBody.request_id);
  assert.doesNotMatch(otherBody.request_id, /^req-/, 'not Fastify\'s default ids');
  const probe = await fetch(`${plain}/up`, { headers: { 'x-request-id': 'probe-42' } });
  assert.equal(probe.headers.get('x-request-id'), 'probe-42');
  // Plain HTTP on the TLS port is refused by TLS itself.
  await assert.rejects(fetch(url.replace('https:', 'http:') + '/up'));
});

test('a certificate reload keeps an open WebSocket; new handshakes get the new certificate; bad files keep the old one', async () => {
  const port = Number(new URL(url).port);
  const ws = new WebSocket(`wss://127.0.0.1:${port}/app/app-key?protocol=7`, { ca: pki.ca });
  const frames: { event: string; data?: string }[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as { event: string; data?: string }));
  await until(() => frames.find((frame) => frame.event === 'pusher:connection_established'));
  ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'news' } }));
  await until(() => frames.find((frame) => frame.event === 'pusher_internal:subscription_succeeded'));
  const original = await servedFingerprint(port);

  // 1. Renewal through a config reload naming new files.
  const second = pki.issue('second');
  writeFileSync(configPath, JSON.stringify(config({ ...second, watchIntervalMs: 100 })));
  const report = await app.reload();
  assert.deepEqual(report.changed, ['server.tls.cert', 'server.tls.key']);
  const renewed = await servedFingerprint(port);
  assert.notEqual(renewed, original);

  // 2. Files replaced on disk (watched paths): picked up without a signal.
  writeFileSync(configPath, JSON.stringify(config({ ...live, watchIntervalMs: 100 })));
  await app.reload();
  assert.equal(await servedFingerprint(port), original);
  const third = pki.issue('third');
  copyFileSync(third.key, live.key);
  copyFileSync(third.cert, live.cert);
  const replaced = await until(async () => {
    const seen = await servedFingerprint(port);
    return seen !== original ? seen : undefined;
  }, 10_000);
  assert.notEqual(replaced, renewed);

  // 3. A key that does not match: refused, the served certificate stays.
  writeFileSync(configPath, JSON.stringify(config({ cert: second.cert, key: third.key, watchIntervalMs: 100 })));
  await assert.rejects(app.reload(), /RC_ERR_CONFIG_RELOAD_FAILED|key values mismatch/);
  assert.equal(await servedFingerprint(port), replaced);

  // The socket opened before every reload still delivers.
  // (Published in-process: this test process does not trust the test CA for fetch.)
  const body = JSON.stringify({ name: 'after-reload', channel: 'news', data: 'still here' });
  const query = signQuery({ key: 'app-key', secret: 'app-secret' }, 'POST', '/apps/app-1/events', {}, body);
  const published = await app.http.inject({ method: 'POST', url: `/apps/app-1/events?${query}`, headers: { 'content-type': 'application/json' }, payload: body });
  assert.equal(published.statusCode, 200, published.body);
  const frame = await until(() => frames.find((candidate) => candidate.event === 'after-reload'));
  assert.equal(frame.data, 'still here');
  assert.equal(ws.readyState, WebSocket.OPEN);
  ws.close();
});
