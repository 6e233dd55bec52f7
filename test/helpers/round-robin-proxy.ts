/**
 * A non-sticky round-robin HTTP proxy for cluster tests: each new request goes to the
 * next of N backends, whatever connection it came on, cookie or client it carries (no
 * stickiness at all, the harshest load balancer a deployment can have). Requests and
 * their replies are streamed through unchanged; the proxy adds nothing but
 * `X-Forwarded-For`.
 *
 * Faults for tests: `cutNextReply(match)` makes the next reply whose request body
 * matches `match` end mid-body (the client's socket is destroyed after half the bytes),
 * as a network cut or a killed balancer would. `routeNext(match, index)` sends the next
 * request whose body matches to one backend (outside the rotation), e.g. to put a Bayeux
 * client's home on the node a test is about to fault.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';

export interface RoundRobinProxy {
  /** `http://127.0.0.1:port` of the proxy. */
  readonly url: string;
  /** Requests forwarded so far, per backend index. */
  readonly counts: number[];
  /** Every request forwarded: backend index, method, path and the request body's text. */
  readonly requests: { backend: number; method: string; path: string; body: string }[];
  /** Takes a backend out of the rotation (a health check that found it dead). */
  remove(index: number): void;
  /** Makes the next reply to a request whose body matches stop half-way (socket destroyed). */
  cutNextReply(match: (body: string) => boolean): Promise<void>;
  /** Sends the next request whose body matches to backend `index`, leaving the rotation where it is. */
  routeNext(match: (body: string) => boolean, index: number): void;
  close(): Promise<void>;
}

export async function startRoundRobinProxy(backends: readonly string[]): Promise<RoundRobinProxy> {
  if (backends.length === 0) throw new Error('no backends');
  const targets = backends.map((backend) => new URL(backend));
  const counts = targets.map(() => 0);
  const requests: RoundRobinProxy['requests'] = [];
  let next = 0;
  const removed = new Set<number>();
  let cut: { match: (body: string) => boolean; done: () => void } | null = null;
  let routed: { match: (body: string) => boolean; index: number } | null = null;

  const server: Server = createServer((incoming: IncomingMessage, outgoing: ServerResponse) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      const text = body.toString('utf8');
      let index = next;
      if (routed !== null && routed.match(text)) {
        index = routed.index;
        routed = null;
      } else {
        for (let i = 0; i < targets.length && removed.has(index); i++) index = (index + 1) % targets.length;
        next = (index + 1) % targets.length;
      }
      counts[index]! += 1;
      requests.push({ backend: index, method: incoming.method ?? 'GET', path: incoming.url ?? '/', body: text });
      const target = targets[index]!;
      const cutThis = cut !== null && cut.match(text) ? cut : null;
      if (cutThis !== null) cut = null;
      const headers = { ...incoming.headers, host: target.host, 'x-forwarded-for': incoming.socket.remoteAddress ?? '' };
      headers['content-length'] = String(body.length);
      delete headers['transfer-encoding'];
      const upstream = httpRequest(
        { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers },
        (reply) => {
          if (cutThis === null) {
            outgoing.writeHead(reply.statusCode ?? 502, reply.headers);
            reply.pipe(outgoing);
            return;
          }
          const parts: Buffer[] = [];
          reply.on('data', (chunk: Buffer) => parts.push(chunk));
          reply.on('end', () => {
            const whole = Buffer.concat(parts);
            const half = whole.subarray(0, Math.max(1, Math.floor(whole.length / 2)));
            outgoing.writeHead(reply.statusCode ?? 502, { ...reply.headers, 'content-length': String(whole.length) });
            outgoing.write(half, () => {
              outgoing.socket?.destroy();
              cutThis.done();
            });
          });
        },
      );
      upstream.on('error', () => {
        if (!outgoing.headersSent) outgoing.writeHead(502, { 'content-type': 'text/plain' });
        outgoing.end('bad gateway\n');
      });
      // The client went away: so does the upstream request (a held long-poll is released).
      outgoing.on('close', () => {
        if (!outgoing.writableFinished) upstream.destroy();
      });
      upstream.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    requests,
    remove(index) {
      removed.add(index);
    },
    routeNext(match, index) {
      routed = { match, index };
    },
    cutNextReply(match) {
      return new Promise<void>((resolve) => {
        cut = { match, done: resolve };
      });
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close').catch(() => undefined);
    },
  };
}
