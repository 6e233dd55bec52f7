/**
 * Real peers and the message model (issue 4): an unmodified pusher-js client (protocol
 * 7) keeps working while messages on its channel are updated, appended to, deleted and
 * annotated over REST with the official `pusher` SDK — it sees the creates only, never
 * a frame it cannot parse.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { nextEvent, pusherJsClient, serverSdk, subscribed, type PusherJs } from '../helpers/pusher-peers.ts';

let node: RunningApp;
let client: PusherJs;

before(async () => {
  node = await startApp(testConfig());
  client = await pusherJsClient(node.port);
});
after(async () => {
  client?.disconnect();
  await node?.close();
});

test('pusher-js sees creates only while messages are changed and annotated', async () => {
  const sdk = serverSdk(node.port);
  const channel = await subscribed(client, 'edits');
  const seen: string[] = [];
  channel.bind_global((event: string) => {
    if (!event.startsWith('pusher:')) seen.push(event);
  });
  const errors: unknown[] = [];
  client.connection.bind('error', (error: unknown) => errors.push(error));
  const first = nextEvent<string>(channel, 'chat');
  const reply = (await (await sdk.trigger('edits', 'chat', 'Hello')).json()) as { message_serial?: string; message_serials?: Record<string, string> };
  const serial = reply.message_serial ?? reply.message_serials?.edits;
  assert.ok(serial);
  assert.equal((await first).data, 'Hello');
  const base = `/channels/edits/messages/${serial}`;
  for (const [path, body] of [
    [`${base}/update`, { data: 'Hello,' }],
    [`${base}/append`, { data: ' world' }],
    [`${base}/annotations`, { type: 'reactions:distinct.v1', name: 'like', client_id: 'ann' }],
    [`${base}/delete`, {}],
  ] as const) {
    // The SDK JSON-encodes `body` itself; its typings say string, so hand it the object through a cast.
    const response = await sdk.post({ path, body: body as unknown as string });
    assert.equal(response.status, 200, path);
  }
  const done = nextEvent<string>(channel, 'chat');
  await sdk.trigger('edits', 'chat', 'after');
  assert.equal((await done).data, 'after');
  assert.deepEqual(seen, ['chat', 'chat']);
  assert.deepEqual(errors, []);
  assert.equal(client.connection.state, 'connected');
});
