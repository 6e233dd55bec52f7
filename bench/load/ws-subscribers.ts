/**
 * Load generator: many Pusher-protocol WebSocket subscribers in one process (npm `ws`
 * clients, permessage-deflate off). Each connects to `/app/{key}?protocol=7…`, waits
 * for `pusher:connection_established`, optionally subscribes to a channel and waits for
 * `pusher_internal:subscription_succeeded`, then counts events and records
 * publish-to-receive latency from the `ts:` stamp in each frame (see pusher-sign.ts).
 *
 * Commands: connect {url, count, channel?, concurrency?, localAddress?} · reset · snapshot · close.
 */
import WebSocket from 'ws';
import { Histogram } from '../lib/histogram.ts';
import { readStamp } from '../lib/pusher-sign.ts';
import { nowMs, serveWorker } from '../lib/worker.ts';

interface ConnectArgs {
  url: string;
  count: number;
  /** Subscribe each connection to this channel; none: connect only (idle). */
  channel?: string;
  /** Handshakes in flight at once. Default 50. */
  concurrency?: number;
  /** Attempts more per socket after a failed handshake (a 408 from a starved server, say). Default 0. */
  retries?: number;
  /** Source address of every socket (e.g. 127.0.1.2): each source address has its own ephemeral-port range. */
  localAddress?: string;
}

const sockets: WebSocket[] = [];
const latency = new Histogram();
let received = 0;
/** Every frame after subscription (stamped or not), e.g. autocannon's pre-signed events. */
let frames = 0;
let closed = 0;
/** Close codes of the sockets that closed after connecting (4200: cut as a slow consumer). */
const closeCodes: Record<number, number> = {};
/** Handshakes tried again after a failure (see ConnectArgs.retries). */
let retried = 0;
let errors = 0;
let firstReceiveAt = 0;
let lastReceiveAt = 0;

function openOne(url: string, channel: string | undefined, localAddress: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, localAddress === undefined ? { perMessageDeflate: false } : { perMessageDeflate: false, localAddress });
    let ready = false;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('subscriber handshake timed out (20 s)'));
    }, 20_000);
    const settle = (): void => {
      ready = true;
      clearTimeout(timer);
      sockets.push(ws);
      resolve();
    };
    ws.on('message', (data: Buffer) => {
      if (ready) {
        frames++;
        const sentAt = readStamp(data);
        if (Number.isFinite(sentAt)) {
          const now = nowMs();
          latency.record(now - sentAt);
          received++;
          if (firstReceiveAt === 0) firstReceiveAt = now;
          lastReceiveAt = now;
        } else if (data.includes('pusher:ping')) {
          ws.send('{"event":"pusher:pong","data":"{}"}');
        }
        return;
      }
      const text = data.toString();
      if (text.includes('pusher:connection_established')) {
        if (channel === undefined) settle();
        else ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel } }));
      } else if (text.includes('pusher_internal:subscription_succeeded')) {
        settle();
      } else if (text.includes('pusher:error')) {
        clearTimeout(timer);
        ws.terminate();
        reject(new Error(`subscriber got ${text.slice(0, 200)}`));
      }
    });
    ws.on('error', (error) => {
      errors++;
      if (!ready) {
        clearTimeout(timer);
        reject(error);
      }
    });
    ws.on('close', (code: number) => {
      if (!ready) return;
      closed++;
      closeCodes[code] = (closeCodes[code] ?? 0) + 1;
    });
  });
}

async function connect(args: ConnectArgs): Promise<{ connected: number; retried: number }> {
  const concurrency = args.concurrency ?? 50;
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, args.count) }, async () => {
    while (next < args.count) {
      next++;
      for (let attempt = 0; ; attempt++) {
        try {
          await openOne(args.url, args.channel, args.localAddress);
          break;
        } catch (error) {
          if (attempt >= (args.retries ?? 0)) throw error;
          retried++;
        }
      }
    }
  });
  await Promise.all(lanes);
  return { connected: sockets.length, retried };
}

serveWorker({
  connect: (args: ConnectArgs) => connect(args),
  reset: () => {
    latency.reset();
    received = 0;
    frames = 0;
    firstReceiveAt = 0;
    lastReceiveAt = 0;
    return null;
  },
  snapshot: () => ({
    received,
    frames,
    closed,
    closeCodes,
    errors,
    open: sockets.length - closed,
    firstReceiveAt,
    lastReceiveAt,
    latency: latency.snapshot(),
  }),
  close: async () => {
    for (const ws of sockets) ws.terminate();
    sockets.length = 0;
    return null;
  },
});
