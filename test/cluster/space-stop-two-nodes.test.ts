/**
 * Stopping a space on node A ends its bots' streams on node B at once: a /meta/connect
 * held on B is answered without waiting for its timeout, and the session is refused
 * afterwards (the space's epoch moved on).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Config } from '../../src/config/schema.ts';
import { roomsOf } from '../../src/core/rooms.ts';
import type { RunningApp } from '../helpers/app.ts';
import { bayeux, handshake, login, type BayeuxReply } from '../helpers/bots.ts';
import { startTwoNodes, type TwoNodes } from '../helpers/two-nodes.ts';

let config: Config;
let nodeA: RunningApp;
let nodeB: RunningApp;
let cluster: TwoNodes;

before(async () => {
  ({ config, nodeA, nodeB } = cluster = await startTwoNodes({ bots: { cookieSecret: 'a-shared-cookie-secret-for-tests', maxEventLoopDelayMs: 0, sessionGraceMs: 20_000, connectTimeoutMs: 20_000 } }));
});
after(async () => {
  await cluster?.close();
});

test('a stop on node A answers the connect held on node B at once and ends the session', async () => {
  const { cookie, status } = await login(nodeB.url);
  assert.equal(status, 200);
  const clientId = await handshake(nodeB.url, cookie);
  const [subscribed] = await bayeux(nodeB.url, cookie, [{ channel: '/meta/subscribe', clientId, subscription: '/service/stream' }]);
  assert.equal(subscribed?.successful, true);
  // A connect is held for connectTimeoutMs unless it asks for less: this first one asks for
  // timeout 0 and is answered at once; the next one is held (20 s) until the stop.
  const [first] = await bayeux(nodeB.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]);
  assert.equal(first?.successful, true);

  // Node B extends the session by the hold (TTL hold + grace) right before it holds the
  // connect, in the same turn: seeing that extension means the connect is held.
  const kv = nodeB.app.core.backend.kv;
  const touch = kv.touch;
  let noteHeld!: () => void;
  const heldOnB = new Promise<void>((resolve) => (noteHeld = resolve));
  kv.touch = (key: string, ttlMs: number): Promise<boolean> => {
    if (ttlMs > config.bots.sessionGraceMs) noteHeld();
    return touch.call(kv, key, ttlMs);
  };
  const started = Date.now();
  let held: Promise<BayeuxReply[]>;
  try {
    held = bayeux(nodeB.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]);
    await heldOnB;
  } finally {
    kv.touch = touch;
  }
  await roomsOf(nodeA.app.core).setRunning('acme', false);
  // Released by the stop signal (the client is gone: handshake again), not by its 20 s timeout.
  const [released] = await held;
  assert.ok(Date.now() - started < 5_000, `the held connect was answered after ${Date.now() - started} ms, not at its 20 s timeout`);
  assert.equal(released?.error, '402::session_unknown');
  assert.equal((released?.advice as { reconnect?: string } | undefined)?.reconnect, 'handshake');

  const after = await fetch(`${nodeB.url}/api/v1/bayeux`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie },
    body: JSON.stringify([{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]),
  });
  assert.equal(after.status, 403);
  assert.match(await after.text(), /RC_ERR_BOT_SESSION_EXPIRED: your login expired \(its space was stopped\)/);
  await roomsOf(nodeA.app.core).setRunning('acme', true);
});
