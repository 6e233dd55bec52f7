/**
 * Load generator: WebSocket subscribers that stop reading. Each connects and subscribes
 * like ws-subscribers.ts and reads normally until `stall`, which pauses every socket
 * (`socket.pause()`: the process stops reading, the kernel buffers fill, as with a frozen
 * tab or a stuck client). Nothing is read afterwards, so the server's cut cannot be seen
 * here: the orchestrator watches the channel's subscription count instead.
 *
 * Commands: connect {url, count, channel, concurrency?} · stall · snapshot · close.
 */
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { serveWorker } from '../lib/worker.ts';

interface ConnectArgs {
  url: string;
  count: number;
  channel: string;
  concurrency?: number;
}

const sockets: WebSocket[] = [];
let framesBeforeStall = 0;
let stalled = false;

function openOne(url: string, channel: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let ready = false;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('stalled-reader handshake timed out (20 s)'));
    }, 20_000);
    ws.on('message', (data: Buffer) => {
      if (ready) {
        if (!stalled) framesBeforeStall++;
        return;
      }
      const text = data.toString();
      if (text.includes('pusher:connection_established')) ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel } }));
      else if (text.includes('pusher_internal:subscription_succeeded')) {
        ready = true;
        clearTimeout(timer);
        sockets.push(ws);
        resolve();
      }
    });
    ws.on('error', (error) => {
      if (!ready) {
        clearTimeout(timer);
        reject(error);
      }
    });
  });
}

serveWorker({
  connect: async (args: ConnectArgs) => {
    let next = 0;
    const lanes = Array.from({ length: Math.min(args.concurrency ?? 50, args.count) }, async () => {
      while (next < args.count) {
        next++;
        await openOne(args.url, args.channel);
      }
    });
    await Promise.all(lanes);
    return { connected: sockets.length };
  },
  stall: () => {
    stalled = true;
    for (const ws of sockets) (ws as unknown as { _socket: Socket })._socket.pause();
    return { stalled: sockets.length, framesBeforeStall };
  },
  snapshot: () => ({ sockets: sockets.length, framesBeforeStall }),
  close: () => {
    for (const ws of sockets) ws.terminate();
    sockets.length = 0;
    return null;
  },
});
