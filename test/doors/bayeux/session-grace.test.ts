/**
 * Login sessions end when the bot stops polling for longer than `bots.sessionGraceMs`,
 * and live on while it keeps polling (many connect cycles, several times the grace).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApp, testConfig, type RunningApp } from '../../helpers/app.ts';
import { bayeux, bayeuxPost, handshake, login, until } from '../../helpers/bots.ts';

// Long enough that login, handshake and subscribe fit in it on a loaded machine.
const GRACE_MS = 1000;
const HOLD_MS = 150;
let server: RunningApp;

before(async () => {
  server = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0, sessionGraceMs: GRACE_MS, connectTimeoutMs: HOLD_MS } }));
});
after(() => server.close());

const connectMessage = (clientId: string) => [{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }];

test('a bot that stops polling longer than the grace gets 403 on its next publish', async () => {
  const { cookie } = await login(server.url);
  const clientId = await handshake(server.url, cookie);
  await bayeux(server.url, cookie, [{ channel: '/meta/subscribe', clientId, subscription: '/service/stream' }]);
  const [connected] = await bayeux(server.url, cookie, connectMessage(clientId));
  assert.equal(connected!.successful, true);
  const stoppedAt = Date.now();

  // Publishing does not count as polling: the session still runs out.
  const response = await until(async () => {
    const attempt = await bayeuxPost(server.url, cookie, [{ channel: '/service/stream', clientId, data: 'anyone?' }]);
    if (attempt.status !== 200) return attempt;
    const [reply] = (await attempt.json()) as { successful: boolean }[];
    assert.equal(reply!.successful, true, 'publishes succeed while the session lives');
    return undefined;
  }, 10 * GRACE_MS, 50);
  const elapsed = Date.now() - stoppedAt;
  assert.equal(response.status, 403);
  assert.match(await response.text(), /your login expired .* log in again/);
  assert.ok(elapsed >= GRACE_MS - 50, `expired after ${elapsed} ms, before the ${GRACE_MS} ms grace`);

  // Logging in again restores service.
  const again = await login(server.url);
  assert.equal(again.status, 200);
  assert.ok(await handshake(server.url, again.cookie));
});

test('a bot that keeps polling keeps its session across many connect cycles', async () => {
  const { cookie } = await login(server.url);
  const clientId = await handshake(server.url, cookie);
  const started = Date.now();
  let cycles = 0;
  while (Date.now() - started < 5 * GRACE_MS) {
    const replies = await bayeux(server.url, cookie, connectMessage(clientId));
    assert.equal(replies[0]!.successful, true, JSON.stringify(replies));
    cycles += 1;
  }
  assert.ok(cycles >= 5, `only ${cycles} connect cycles`);
  const [published] = await bayeux(server.url, cookie, [{ channel: '/service/stream', clientId, data: 'still here' }]);
  assert.equal(published!.successful, true);
});
