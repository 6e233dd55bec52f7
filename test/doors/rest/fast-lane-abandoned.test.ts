/**
 * A publish request whose client goes away before the reply, or whose body the server
 * stops waiting for (`requestTimeoutMs`), gets one access line and one request count,
 * whichever way it is served: through the fast lane (`Content-Type: application/json`)
 * or only through the Fastify route (`application/json; charset=utf-8`). Status 499 for
 * a client that left, the 408 the client was sent for a timeout.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { buildApp, type RoomcastApp } from '../../../src/app.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { signQuery } from '../../../src/doors/rest/signature.ts';
import { testConfig, TEST_APP } from '../../helpers/app.ts';
import { waitUntil } from '../../helpers/ws-client.ts';

const TYPES = { lane: 'application/json', route: 'application/json; charset=utf-8' } as const;

let app: RoomcastApp;
let port: number;
const lines: string[] = [];

before(async () => {
  const config = testConfig({ server: { host: '127.0.0.1', port: 0, headersTimeoutMs: 1000, requestTimeoutMs: 1000 } });
  app = await buildApp(config, { logger: createLogger('info', { write: (line: string) => void lines.push(line) }) });
  port = Number(new URL(await app.listen()).port);
});

after(async () => {
  await app.close();
});

/** Opens a connection and sends a signed publish's headers and the first 10 bytes of its body. */
async function partialPublish(contentType: string): Promise<Socket> {
  const body = JSON.stringify({ name: 'e', channel: 'abandoned', data: 'x'.repeat(100) });
  const path = `/apps/${TEST_APP.id}/events`;
  const query = signQuery(TEST_APP, 'POST', path, {}, body);
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const head = `POST ${path}?${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  await new Promise<void>((resolve, reject) => socket.write(head + body.slice(0, 10), (error) => (error ? reject(error) : resolve())));
  return socket;
}

function accessLines(): { route: string; status: number }[] {
  return lines.map((line) => JSON.parse(line) as { msg: string; route: string; status: number }).filter((line) => line.msg === 'request');
}

for (const [path, contentType] of Object.entries(TYPES)) {
  test(`${path}: a client that leaves mid-body gets one access line, status 499`, async () => {
    lines.length = 0;
    const socket = await partialPublish(contentType);
    // The server has the headers once it answers nothing yet but holds the connection: leave.
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.destroy();
    await waitUntil(() => accessLines().length > 0, 5000, 'an access line');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(accessLines().map((line) => [line.route, line.status]), [['/apps/:app_id/events', 499]], JSON.stringify(accessLines()));
  });

  test(`${path}: a body the server stops waiting for gets one access line, the 408 the client was sent`, async () => {
    lines.length = 0;
    const socket = await partialPublish(contentType);
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
    });
    assert.match(answer, /^HTTP\/1\.1 408 /);
    await waitUntil(() => accessLines().length > 0, 5000, 'an access line');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(accessLines().map((line) => [line.route, line.status]), [['/apps/:app_id/events', 408]], JSON.stringify(accessLines()));
  });
}
