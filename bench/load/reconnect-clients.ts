/**
 * Load generator for reconnect-storm: protocol-2 clients (frames carry serials) on one
 * channel, each remembering the last serial it saw and how often it received each
 * numbered event (`seq:<n>` in the data). `arm` makes every client, once its connection
 * closes, connect at once to one of the surviving origins and subscribe with
 * `last_serial`; it resolves with each client's resubscription time.
 *
 * Commands: connect {origin, count, channel} · arm {origins, channel, offset} ·
 * report {accepted} · close.
 */
import WebSocket from 'ws';
import { BENCH_APP } from '../lib/pusher-sign.ts';
import { serveWorker } from '../lib/worker.ts';

const QUERY = 'protocol=2&client=bench&version=1.0';
const SEQ = /seq:(\d+)/;
const SERIAL = /"serial":"([^"]+)"/;

interface Client {
  ws: WebSocket;
  lastSerial: string;
  /** Times each numbered event arrived. */
  readonly got: Map<number, number>;
}

const clients: Client[] = [];

/** Opens one connection for `client` (new or reconnecting), subscribes, resolves once subscribed. */
function attach(client: Client, origin: string, channel: string, lastSerial: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${origin.replace(/^http/, 'ws')}/app/${BENCH_APP.key}?${QUERY}`, { perMessageDeflate: false });
    client.ws = ws;
    let subscribed = false;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('subscription timed out (120 s)'));
    }, 120_000);
    ws.on('message', (data: Buffer) => {
      const text = data.toString();
      if (text.includes('seq:')) {
        const n = Number(SEQ.exec(text)?.[1]);
        client.got.set(n, (client.got.get(n) ?? 0) + 1);
        const serial = SERIAL.exec(text)?.[1];
        if (serial !== undefined) client.lastSerial = serial;
        return;
      }
      if (text.includes('pusher:ping')) {
        ws.send('{"event":"pusher:pong","data":"{}"}');
      } else if (!subscribed && text.includes('pusher:connection_established')) {
        ws.send(JSON.stringify({ event: 'pusher:subscribe', data: lastSerial === '' ? { channel } : { channel, last_serial: lastSerial } }));
      } else if (!subscribed && text.includes('pusher_internal:subscription_succeeded')) {
        subscribed = true;
        clearTimeout(timer);
        resolve();
      } else if (!subscribed && text.includes('pusher:error')) {
        clearTimeout(timer);
        ws.terminate();
        reject(new Error(text.slice(0, 200)));
      }
    });
    ws.on('error', (error) => {
      if (subscribed) return;
      clearTimeout(timer);
      reject(error);
    });
  });
}

async function connect(args: { origin: string; count: number; channel: string }): Promise<{ connected: number }> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(50, args.count) }, async () => {
      while (next < args.count) {
        next++;
        const client: Client = { ws: null as unknown as WebSocket, lastSerial: '', got: new Map() };
        await attach(client, args.origin, args.channel, '');
        clients.push(client);
      }
    }),
  );
  return { connected: clients.length };
}

/** Resolves with each client's resubscription time (wall-clock ms; 0: failed) and the first failure. */
async function arm(args: { origins: string[]; channel: string; offset: number }): Promise<{ recoveredAt: number[]; failed: number; firstError: string }> {
  let failed = 0;
  let firstError = '';
  const recoveredAt = await Promise.all(
    clients.map(async (client, index) => {
      const ws = client.ws;
      await new Promise<void>((resolve) => (ws.readyState >= WebSocket.CLOSING ? resolve() : ws.once('close', () => resolve())));
      try {
        await attach(client, args.origins[(args.offset + index) % args.origins.length]!, args.channel, client.lastSerial);
        return Date.now();
      } catch (error) {
        failed++;
        if (firstError === '') firstError = error instanceof Error ? error.message : String(error);
        return 0;
      }
    }),
  );
  return { recoveredAt, failed, firstError };
}

function report(args: { accepted: number[] }): { gaps: number; clientsWithGaps: number; duplicates: number; neverSerial: number; duplicateSeqs: number[] } {
  const duplicateSeqs = new Set<number>();
  let gaps = 0;
  let clientsWithGaps = 0;
  let duplicates = 0;
  let neverSerial = 0;
  for (const client of clients) {
    let missing = 0;
    for (const n of args.accepted) if (!client.got.has(n)) missing++;
    gaps += missing;
    if (missing > 0) clientsWithGaps++;
    for (const [n, times] of client.got) {
      if (times <= 1) continue;
      duplicates += times - 1;
      duplicateSeqs.add(n);
    }
    if (client.lastSerial === '') neverSerial++;
  }
  return { gaps, clientsWithGaps, duplicates, neverSerial, duplicateSeqs: [...duplicateSeqs].sort((a, b) => a - b) };
}

serveWorker({
  connect: (args: { origin: string; count: number; channel: string }) => connect(args),
  arm: (args: { origins: string[]; channel: string; offset: number }) => arm(args),
  report: (args: { accepted: number[] }) => report(args),
  close: () => {
    for (const client of clients) client.ws.terminate();
    return null;
  },
});
