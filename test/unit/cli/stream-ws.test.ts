/**
 * The CLI's channel stream (`roomcast tail`, `history --follow`) resumes by serial after a
 * dropped connection: what was published while it was away arrives once, in order, and a
 * position the server cannot serve is reported, not skipped over.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ChannelStream, type StreamEvent } from '../../../src/cli/stream-ws.ts';
import { startApp, TEST_APP, testConfig, type RunningApp } from '../../helpers/app.ts';
import { until } from '../../helpers/rest-observers.ts';
import { signedCall } from '../../helpers/signed-request.ts';

let server: RunningApp;
before(async () => {
  server = await startApp(testConfig());
});
after(() => server.close());

async function publish(channel: string, n: number): Promise<void> {
  const reply = await signedCall(server.url, 'POST', `/apps/${TEST_APP.id}/events`, { body: { name: 'tick', channel, data: JSON.stringify({ n }) } });
  assert.equal(reply.status, 200, reply.text);
}

test('tail resumes by serial after a dropped connection: every event once, in order', async () => {
  const channel = 'cli-resume';
  const events: StreamEvent[] = [];
  const notices: string[] = [];
  const stream = new ChannelStream({
    credentials: { url: server.url, appId: TEST_APP.id, key: TEST_APP.key, secret: TEST_APP.secret },
    channels: [channel],
    onEvent: (event) => events.push(event),
    onNotice: (notice) => notices.push(notice.kind),
  });
  stream.start();
  try {
    await until(() => notices.includes('subscribed'), 5000, 'first subscription');
    await publish(channel, 1);
    await publish(channel, 2);
    await until(() => events.length === 2, 5000, 'events 1-2 live');
    stream.dropConnection();
    await until(() => notices.includes('disconnected'), 5000, 'the drop is noticed');
    for (const n of [3, 4, 5]) await publish(channel, n);
    await until(() => events.filter((event) => event.event === 'tick').length === 5, 10_000, 'events 3-5 replayed after the reconnect');
    const ns = events.filter((event) => event.event === 'tick').map((event) => (typeof event.data === 'string' ? (JSON.parse(event.data) as { n: number }) : (event.data as { n: number })).n);
    assert.deepEqual(ns, [1, 2, 3, 4, 5]);
    const serials = events.map((event) => event.serial);
    assert.equal(new Set(serials).size, serials.length, 'no serial delivered twice');
  } finally {
    stream.stop();
  }
});
