/**
 * Raw TCP fuzz of the HTTP listener: random bytes, broken request lines, header floods,
 * bad chunked framing, lying Content-Length, pipelined garbage after a good request.
 *
 * Property: the server answers a 4xx or closes the connection; never a 5xx.
 */
import { connect } from 'node:net';
import fc from 'fast-check';
import { draw, hostileString } from './arbitraries.ts';
import { FUZZ_APP } from './server.ts';
import { DoorStats, runPool } from './stats.ts';

const ascii = (text: string): string => text.replace(/[^\x20-\x7e]/g, '?');

export const rawTcpInput: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((bytes) => Buffer.from(bytes)),
  fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'BREW', 'G\u0000T', ''), hostileString, fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9', '')).map(([method, path, version]) => Buffer.from(`${method} /${ascii(path)} ${version}\r\nHost: x\r\n\r\n`, 'latin1')),
  fc.integer({ min: 100, max: 2000 }).map((n) => Buffer.from(`GET /up HTTP/1.1\r\nHost: x\r\n${Array.from({ length: n }, (_, i) => `X-${i}: ${'v'.repeat(40)}`).join('\r\n')}\r\n\r\n`)),
  fc.constantFrom(
    `POST /apps/${FUZZ_APP.id}/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
    `POST /apps/${FUZZ_APP.id}/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`,
    `POST /apps/${FUZZ_APP.id}/events HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n`,
    `POST /apps/${FUZZ_APP.id}/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef`,
    `POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n{}`,
    'GET /up HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n',
    'GET /up HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n',
    'GET /up HTTP/1.1\r\n Host: x\r\n\r\n',
    'GET /up HTTP/1.1\nHost: x\n\n',
    '\r\n\r\n\r\n',
    `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    'GET /api/v1/bayeux HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
  ).map((text) => Buffer.from(text, 'latin1')),
);

export async function fuzzRawTcp(port: number, seed: number, count: number, concurrency: number, stats: DoorStats, isAlive: () => boolean): Promise<void> {
  const inputs = draw(rawTcpInput, seed, count);
  await runPool(inputs, concurrency, async (bytes) => {
    if (!isAlive()) return;
    const started = performance.now();
    let firstByteAt = 0;
    const reply = await new Promise<string>((resolve) => {
      let text = '';
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(bytes);
        // Half-close: a server waiting for more must still answer or close.
        socket.end();
      });
      socket.setTimeout(15_000, () => socket.destroy());
      socket.on('data', (chunk) => {
        firstByteAt ||= performance.now();
        text += chunk.toString('latin1');
      });
      socket.on('close', () => resolve(text));
      socket.on('error', () => {});
    });
    const statuses = [...reply.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((match) => match[1]!);
    const describe = (): string => bytes.toString('latin1').slice(0, 200);
    // Latency is that of a reply; a connection closed without one (by a timeout) has none.
    stats.record(statuses[0] ?? 'closed', firstByteAt > 0 ? firstByteAt - started : 0, describe);
    const fault = statuses.find((status) => status.startsWith('5'));
    if (fault !== undefined) stats.fault(`raw TCP answered ${fault}: ${reply.slice(0, 200)} ← ${describe()}`);
  });
}
