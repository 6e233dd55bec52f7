/**
 * Peer for the ws fan-out benchmark: a minimal `ws` broadcast server speaking just
 * enough of Pusher protocol 7 for the same subscribers (connection_established,
 * subscribe → subscription_succeeded, ping → pong) and taking publishes on
 * `POST /apps/{id}/events` (signature not checked: this is the practical limit, not a
 * server). Modes (RAW_WS_MODE):
 *   - `corked`: the WebSocket frame (header + payload) is built ONCE per publish as one
 *     Buffer and written straight to every subscriber's TCP socket; sockets are corked on
 *     their first write in an event-loop turn and uncorked in setImmediate, so several
 *     publishes handled in one turn leave in one syscall per socket. The best this
 *     stack (node net + ws) allows.
 *   - `naive`: `ws.send(frameString)` per subscriber (ws encodes the string per socket).
 * Env: PORT. Worker command: `stats` → publishes and frames written.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { serveWorker } from '../lib/worker.ts';

type Mode = 'corked' | 'naive';
const mode: Mode = process.env.RAW_WS_MODE === 'naive' ? 'naive' : 'corked';
const port = Number(process.env.PORT ?? 0);

interface Connection {
  readonly ws: WebSocket;
  readonly socket: Socket;
  readonly channels: Set<string>;
}

const channels = new Map<string, Set<Connection>>();
let nextSocket = 1;
let publishes = 0;
let framesWritten = 0;

/** An unmasked, final text frame (RFC 6455 §5.2) around `payload`, built once per publish. */
function textFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81;
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(0, 2);
    frame.writeUInt32BE(length, 6);
  }
  payload.copy(frame, headerLength);
  return frame;
}

const corked: Socket[] = [];
let uncorkScheduled = false;
function uncorkAll(): void {
  uncorkScheduled = false;
  for (const socket of corked) socket.uncork();
  corked.length = 0;
}

function broadcast(channel: string, text: string): void {
  const subscribers = channels.get(channel);
  if (subscribers === undefined) return;
  if (mode === 'naive') {
    for (const connection of subscribers) connection.ws.send(text);
    framesWritten += subscribers.size;
    return;
  }
  const frame = textFrame(Buffer.from(text));
  for (const connection of subscribers) {
    const socket = connection.socket;
    if (socket.writableCorked === 0) {
      socket.cork();
      corked.push(socket);
    }
    socket.write(frame);
  }
  framesWritten += subscribers.size;
  if (!uncorkScheduled) {
    uncorkScheduled = true;
    setImmediate(uncorkAll);
  }
}

function onFrame(connection: Connection, raw: Buffer): void {
  let frame: { event?: unknown; data?: { channel?: unknown } };
  try {
    frame = JSON.parse(raw.toString()) as typeof frame;
  } catch {
    return;
  }
  if (frame.event === 'pusher:ping') {
    connection.ws.send('{"event":"pusher:pong","data":"{}"}');
  } else if (frame.event === 'pusher:subscribe' && typeof frame.data?.channel === 'string') {
    const name = frame.data.channel;
    let members = channels.get(name);
    if (members === undefined) channels.set(name, (members = new Set()));
    members.add(connection);
    connection.channels.add(name);
    connection.ws.send(JSON.stringify({ event: 'pusher_internal:subscription_succeeded', channel: name, data: '{}' }));
  }
}

function onConnection(ws: WebSocket, socket: Socket): void {
  const connection: Connection = { ws, socket, channels: new Set() };
  ws.send(
    JSON.stringify({
      event: 'pusher:connection_established',
      data: JSON.stringify({ socket_id: `${process.pid}.${nextSocket++}`, activity_timeout: 120 }),
    }),
  );
  ws.on('message', (data: Buffer) => onFrame(connection, data));
  ws.on('close', () => {
    for (const name of connection.channels) channels.get(name)?.delete(connection);
  });
  ws.on('error', () => ws.terminate());
}

function onRequest(request: IncomingMessage, response: ServerResponse): void {
  if (request.method !== 'POST' || !/^\/apps\/[^/]+\/events(\?|$)/.test(request.url ?? '')) {
    response.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { name: string; channel?: string; channels?: string[]; data: string };
      publishes++;
      for (const channel of body.channels ?? [body.channel ?? '']) {
        broadcast(channel, JSON.stringify({ event: body.name, channel, data: body.data }));
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    } catch {
      response.writeHead(400).end();
    }
  });
}

const server = createServer(onRequest);
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: 256 * 1024 });
server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
  if (!(request.url ?? '').startsWith('/app/')) {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(request, socket, head, (ws) => onConnection(ws, socket));
});
server.listen(port, '127.0.0.1', () => {
  serveWorker({ stats: () => ({ mode, publishes, framesWritten }) });
});
