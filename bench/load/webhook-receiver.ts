/**
 * Benchmark worker: a webhook receiver on 127.0.0.1 that answers 200 to every request and
 * counts the events it got (and the distinct ids, so redeliveries show). Signatures are
 * checked on a sample (every 50th request) with the pusher SDK's verifier, so the
 * receiver is not the bottleneck. Commands: listen {key, secret} → {port}; reset;
 * snapshot → {requests, events, distinct, firstAt, lastAt, invalid}.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Pusher from 'pusher';
import { nowMs, serveWorker } from '../lib/worker.ts';

let server: http.Server | null = null;
let pusher: Pusher | null = null;
let requests = 0;
let events = 0;
let invalid = 0;
let firstAt = 0;
let lastAt = 0;
const ids = new Set<string>();

async function listen(args: { appId: string; key: string; secret: string }): Promise<{ port: number }> {
  pusher = new Pusher({ appId: args.appId, key: args.key, secret: args.secret, host: '127.0.0.1' });
  server = http.createServer({ keepAliveTimeout: 60_000 }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      requests++;
      if (requests % 50 === 1 && pusher !== null && !pusher.webhook({ headers: request.headers as Record<string, string>, rawBody }).isValid()) invalid++;
      const body = JSON.parse(rawBody) as { events: { id: string }[] };
      const now = nowMs();
      if (firstAt === 0) firstAt = now;
      lastAt = now;
      events += body.events.length;
      for (const event of body.events) ids.add(event.id);
      response.writeHead(200).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port };
}

serveWorker({
  listen: (args: { appId: string; key: string; secret: string }) => listen(args),
  reset: () => {
    requests = 0;
    events = 0;
    invalid = 0;
    firstAt = 0;
    lastAt = 0;
    ids.clear();
  },
  snapshot: () => ({ requests, events, distinct: ids.size, firstAt, lastAt, invalid }),
});
