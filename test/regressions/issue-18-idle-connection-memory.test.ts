/**
 * Issue 18: what an idle WebSocket costs the server. Heap censuses (heap snapshots, which
 * collect garbage first) around opening 200 idle connections, clients in this process:
 * the server must keep no copy of the upgrade's URL or query, no per-connection Map
 * while nothing is subscribed, no cleared idle-timeout timer, and no listener closures per socket (ws's events reach the
 * Connection through the door's WebSocket subclass). The byte bound holds the server's
 * part and the clients' together (both `ws`), with room for the clients' own share.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { grew, heapCensus } from '../helpers/heap-census.ts';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';

const COUNT = 200;

describe('issue 18: idle WebSocket connections', () => {
  let running: RunningApp;
  const sockets: WebSocket[] = [];
  before(async () => {
    running = await startApp(testConfig());
  });
  after(async () => {
    for (const ws of sockets) ws.terminate();
    await running.close();
  });

  const ignore = (): void => {};
  async function open(count: number): Promise<void> {
    for (let index = 0; index < count; index++) {
      const ws = new WebSocket(`ws://127.0.0.1:${running.port}/app/${TEST_APP.key}?protocol=7&client=test&version=1.0`, { perMessageDeflate: false });
      ws.on('error', ignore);
      const [data] = (await once(ws, 'message')) as [Buffer];
      assert.match(data.toString(), /pusher:connection_established/);
      sockets.push(ws);
    }
  }

  test(`${COUNT} idle connections: no upgrade URL, no maps, no closures per connection on the server`, async () => {
    // Warm-up: what the first connections pay once (compiled code, pools).
    await open(20);
    const start = await heapCensus();
    await open(COUNT);
    const end = await heapCensus();
    // The census sees the server's side: one Connection per socket.
    assert.equal(grew(start, end, 'Connection'), COUNT);
    assert.ok(grew(start, end, 'URLSearchParams') < COUNT / 10, `URLSearchParams +${grew(start, end, 'URLSearchParams')}`);
    assert.ok(grew(start, end, 'URL') < COUNT / 10, `URL +${grew(start, end, 'URL')}`);
    assert.ok(grew(start, end, 'Map') < COUNT / 10, `Map +${grew(start, end, 'Map')}`);
    // Nor the idle-timeout timer the HTTP listener armed and ws cleared on upgrade.
    assert.ok(grew(start, end, 'Timeout') < COUNT / 10, `Timeout +${grew(start, end, 'Timeout')}`);
    // The client's ws keeps about 5 closures per socket, the server's ws 1 (its auto-pong
    // callback): 6 in all (13 when the door kept its own listeners and overflow callback).
    const closures = grew(start, end, '(closure)') / COUNT;
    assert.ok(closures < 9, `${closures} closures per connection`);
    // About 8.2 KB per connection, client included (10.1 KB with the door's old per-connection state).
    const bytes = (end.bytes - start.bytes) / COUNT;
    assert.ok(bytes < 9_200, `${Math.round(bytes)} bytes per connection (server and client)`);
  });
});
