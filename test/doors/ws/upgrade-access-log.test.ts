/**
 * A WebSocket upgrade is a request like any other in the log: one access line each, at
 * info, with the request id (the caller's X-Request-Id when safe), the route pattern
 * (never the query), the HTTP status, and for an upgrade the door took, the socket id it
 * opened or the Pusher close code and error code it refused with. A node process, so the
 * lines are the process's own stdout.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { TEST_APP } from '../../helpers/app.ts';
import { startNodeProcess, writeConfigFile, type ConfigFile, type ServerProcess } from '../../helpers/server-process.ts';
import { RawPusherClient, waitUntil } from '../../helpers/ws-client.ts';

let files: ConfigFile;
let node: ServerProcess;

before(async () => {
  files = writeConfigFile({
    server: { host: '127.0.0.1', port: 0 },
    log: { level: 'info' },
    apps: [{ ...TEST_APP }, { id: 'off', key: 'off-key', secret: 'off-secret', enabled: false }],
  });
  node = await startNodeProcess(files.configPath);
});
after(async () => {
  await node?.stop();
  files?.remove();
});

interface AccessLine {
  readonly level: number;
  readonly reqId: string;
  readonly method: string;
  readonly route: string;
  readonly status: number;
  readonly ms: number;
  readonly socketId?: string;
  readonly close?: number;
  readonly code?: string;
}

/** The access lines naming `reqId`, once `count` of them are written. */
async function linesOf(reqId: string, count = 1): Promise<AccessLine[]> {
  const find = (): AccessLine[] =>
    node.logs.filter((line) => line.includes(`"reqId":"${reqId}"`)).map((line) => JSON.parse(line) as AccessLine & { msg: string }).filter((line) => line.msg === 'request');
  await waitUntil(() => find().length >= count, 5000, `the access line of ${reqId}`);
  // Any second line for the same request would be written by now.
  await new Promise((resolve) => setTimeout(resolve, 100));
  return find();
}

function connect(path: string, reqId: string): RawPusherClient {
  return new RawPusherClient(new WebSocket(`ws://127.0.0.1:${node.port}${path}`, { headers: { 'X-Request-Id': reqId } }));
}

/** An upgrade request of our own making (ws clients would not send these). */
function rawUpgrade(method: string, headers: Record<string, string>, reqId: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port: node.port, method, path: `/app/${TEST_APP.key}?protocol=7`, headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'X-Request-Id': reqId, ...headers } });
    request.on('response', (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('upgrade', (response, socket) => {
      socket.destroy();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
    request.end();
  });
}

test('an accepted upgrade: one info line, 101, with the socket id it opened', async () => {
  const client = connect(`/app/${TEST_APP.key}?protocol=7&client=js&version=8.4.0&auth_signature=nope`, 'upgrade-ok');
  const established = await client.nextEvent('pusher:connection_established');
  const socketId = (JSON.parse(established.data as string) as { socket_id: string }).socket_id;
  const [line, ...more] = await linesOf('upgrade-ok');
  assert.deepEqual(more, [], 'one line');
  assert.equal(line!.level, 30);
  assert.deepEqual({ method: line!.method, route: line!.route, status: line!.status, socketId: line!.socketId }, { method: 'GET', route: '/app/:key', status: 101, socketId });
  assert.ok(line!.ms >= 0);
  client.close();
});

test('upgrades the door refuses by close code: 101 with the close code and the error code', async () => {
  for (const [path, reqId, close, code] of [
    ['/app/no-such-key?protocol=7', 'upgrade-4001', 4001, 'RC_ERR_WS_UNKNOWN_APP_KEY'],
    ['/app/off-key?protocol=7', 'upgrade-4003', 4003, 'RC_ERR_APP_DISABLED'],
    [`/app/${TEST_APP.key}?protocol=3`, 'upgrade-4007', 4007, 'RC_ERR_WS_PROTOCOL_UNSUPPORTED'],
  ] as const) {
    const client = connect(path, reqId);
    assert.equal((await client.closed).code, close);
    const lines = await linesOf(reqId);
    assert.equal(lines.length, 1, reqId);
    assert.deepEqual({ route: lines[0]!.route, status: lines[0]!.status, close: lines[0]!.close, code: lines[0]!.code }, { route: '/app/:key', status: 101, close, code });
  }
});

test('upgrades refused in HTTP: the status, the path without its query', async () => {
  for (const [path, reqId, status, route] of [
    ['/elsewhere?auth_signature=secret-ish', 'upgrade-404', 404, '/elsewhere'],
    ['/app/%ZZ', 'upgrade-400', 400, '/app/:key'],
  ] as const) {
    const client = connect(path, reqId);
    await client.closed;
    const lines = await linesOf(reqId);
    assert.equal(lines.length, 1, reqId);
    assert.deepEqual({ route: lines[0]!.route, status: lines[0]!.status }, { route, status });
    assert.doesNotMatch(JSON.stringify(lines[0]), /secret-ish|auth_signature/);
  }
  assert.equal(await rawUpgrade('POST', { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' }, 'upgrade-405'), 405);
  assert.deepEqual((await linesOf('upgrade-405')).map((line) => [line.method, line.status]), [['POST', 405]]);
  assert.equal(await rawUpgrade('GET', { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '99' }, 'upgrade-bad-version'), 400);
  assert.deepEqual((await linesOf('upgrade-bad-version')).map((line) => line.status), [400]);
});
