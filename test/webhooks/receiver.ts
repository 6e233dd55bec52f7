/**
 * A local webhook receiver for tests: an HTTP server on 127.0.0.1 that keeps every
 * request, checks each with the official `pusher` SDK's verifier
 * (`pusher.webhook({ headers, rawBody }).isValid()`), and answers what the test says
 * (2xx by default; a status, a hang, or "down" = connections refused).
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Pusher from 'pusher';

export interface ReceivedRequest {
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawBody: string;
  /** What the pusher SDK's webhook verifier said. */
  readonly valid: boolean;
  readonly timeMs: number;
  readonly events: readonly ReceivedEvent[];
  /** The status this receiver answered. */
  readonly status: number;
}

export interface ReceivedEvent {
  readonly name: string;
  readonly id: string;
  readonly [field: string]: unknown;
}

export type Answer = number | 'hang';

export interface Receiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Events of requests answered 2xx, in arrival order (a redelivered event appears again). */
  delivered(): ReceivedEvent[];
  /** Events of requests answered 2xx, each id once (first arrival), in arrival order. */
  unique(): readonly ReceivedEvent[];
  /** How many distinct events (ids) named `name` of `channel` arrived; O(1). */
  countOf(name: string, channel?: string): number;
  /** The answer to the next requests (a status or 'hang'); a function decides per request. */
  answer: Answer | ((request: { path: string; events: readonly ReceivedEvent[] }) => Answer);
  /** Stops listening (connections refused) until `up()`; the port is kept. */
  down(): Promise<void>;
  up(): Promise<void>;
  /** Resolves when `check` holds, polling; rejects with `what` after `timeoutMs`. */
  waitFor(check: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(app: { appId: string; key: string; secret: string }): Promise<Receiver> {
  const pusher = new Pusher({ appId: app.appId, key: app.key, secret: app.secret, host: '127.0.0.1' });
  const requests: ReceivedRequest[] = [];
  const hanging = new Set<http.ServerResponse>();
  const seen = new Set<string>();
  const uniqueEvents: ReceivedEvent[] = [];
  const counts = new Map<string, number>();
  const keep = (event: ReceivedEvent): void => {
    if (seen.has(event.id)) return;
    seen.add(event.id);
    uniqueEvents.push(event);
    for (const key of [`${event.name}\n`, `${event.name}\n${String(event.channel ?? '')}`]) counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  let server: http.Server | null = null;
  let port = 0;

  const receiver: Receiver = {
    url: '',
    requests,
    answer: 200,
    delivered: () => requests.filter((r) => r.status >= 200 && r.status < 300).flatMap((r) => r.events),
    unique: () => uniqueEvents,
    countOf: (name, channel) => counts.get(`${name}\n${channel ?? ''}`) ?? 0,
    async down() {
      if (server === null) return;
      const closing = server;
      server = null;
      closing.closeAllConnections();
      for (const response of hanging) response.destroy();
      hanging.clear();
      await new Promise<void>((resolve) => closing.close(() => resolve()));
    },
    async up() {
      if (server !== null) return;
      server = createServer();
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
    },
    async waitFor(check, what, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; received ${uniqueEvents.length} events, the last: ${JSON.stringify(uniqueEvents.slice(-5))}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async close() {
      await receiver.down();
    },
  };

  function createServer(): http.Server {
    return http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const rawBody = Buffer.concat(chunks).toString('utf8');
        let parsed: { time_ms?: number; events?: ReceivedEvent[] } = {};
        try {
          parsed = JSON.parse(rawBody) as typeof parsed;
        } catch {
          // kept as an invalid request
        }
        const events = parsed.events ?? [];
        const path = request.url ?? '/';
        const answer = typeof receiver.answer === 'function' ? receiver.answer({ path, events }) : receiver.answer;
        const valid = pusher.webhook({ headers: request.headers as Record<string, string>, rawBody }).isValid();
        const status = answer === 'hang' ? 0 : answer;
        requests.push({ path, headers: request.headers, rawBody, valid, timeMs: parsed.time_ms ?? 0, events, status });
        if (status >= 200 && status < 300) for (const event of events) keep(event);
        if (answer === 'hang') {
          hanging.add(response);
          return;
        }
        response.writeHead(answer, { 'content-type': 'text/plain' }).end('ok');
      });
    });
  }

  server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
  (receiver as { url: string }).url = `http://127.0.0.1:${port}`;
  return receiver;
}
