/**
 * The WebSocket door: Pusher Channels protocol 7 on `/app/{key}?protocol=7&client=…&version=…`.
 *
 * It owns the HTTP server's `upgrade` event (a `ws` WebSocketServer in noServer mode),
 * every connection, and one sweeper timer that pings idle connections and closes silent
 * ones (one timer for all connections, not one per socket). On `preClose` every socket
 * is closed with 4200 ("reconnect now", to another node behind a balancer), those still
 * waiting for quota admission too, and the door waits, briefly, for their clean-up
 * (presence leave) before the core stops. From then until the listener has closed, every
 * new upgrade is refused with HTTP 503 (a client reconnecting at once to the stopping
 * node); no upgraded socket is left without an owner, so the server's close never waits
 * on one.
 *
 * An idle connection costs what it must and little more: ws's events reach its Connection
 * without listener functions of its own (`ConnectionSocket` dispatches them), the
 * upgrade request and its parsed URL are dropped once the connection is admitted, and the
 * Connection allocates its subscription maps on first use.
 *
 * Refusals follow Pusher: the upgrade is accepted, a `pusher:error` names the reason,
 * and the close code (4001 unknown app, 4003 disabled, 4004 over the app's cluster-wide
 * connection quota, 4007/4008 protocol, 4100 quota not checkable now) tells the client
 * whether to reconnect.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { AppConfig } from '../../config/schema.ts';
import type { Core } from '../../core/core.ts';
import { createError, type RoomcastError } from '../../errors.ts';
import { CLOSE_ABNORMAL, CLOSE_MESSAGE_TOO_BIG, closeReason, pusherCodeOf, receiverCloseCodeOf } from './close-codes.ts';
import { APP_ROUTE, UpgradeAccess } from './upgrade-access.ts';
import { Connection } from './connection.ts';
import { frameHandlers } from './handlers/index.ts';
import { enableProtocolV2 } from './protocol-v2.ts';
import { connectionEstablished, errorFrame } from './frames.ts';
import { SocketIdFactory } from './socket-id.ts';
import { SocketWriter } from './socket-writer.ts';

export interface WsDoorOptions {
  readonly core: Core;
  /** The main port's request id generator (the upgrade's access line names its id). */
  readonly requestId: (request: IncomingMessage) => string;
}

/** Protocol versions this door speaks. */
// 2 = protocol 7 plus the message model (serials, changes, recovery): see protocol-v2.ts.
const SUPPORTED_PROTOCOLS: ReadonlySet<string> = new Set(['7', '2']);
const APP_PATH = /^\/app\/([^/?#]+)\/?$/;
/** Work spent cutting stalled connections per event-loop turn, at most, in milliseconds. */
const CUT_BUDGET_MS = 5;
/** How long preClose waits for sockets to finish closing before cutting them. */
const SHUTDOWN_WAIT_MS = 2000;

/**
 * The door's WebSocket: ws's, plus the Connection it carries once admitted (null before,
 * and for refused ones). The door's subclass of it (in `wsDoor`) hands ws's events straight
 * to that Connection, so a socket carries no listener functions or listener table of its own.
 */
class DoorSocket extends WebSocket {
  connection: Connection | null = null;
}

/** SocketWriter's overflow report: the connection on that socket closes itself (4200). */
function overflowOf(ws: WebSocket): void {
  (ws as DoorSocket).connection?.onOverflow();
}

export async function wsDoor(http: FastifyInstance, options: WsDoorOptions): Promise<void> {
  const { core, requestId } = options;
  if (core === undefined || requestId === undefined) throw new TypeError('wsDoor needs { core, requestId }');
  const settings = core.config.websocket;
  const logger = http.log.child({ module: 'ws' });
  const socketIds = new SocketIdFactory();
  const connections = new Set<Connection>();
  /** Upgraded sockets whose quota admission is still being asked for (not yet in `connections`), with their access lines. */
  const admitting = new Map<DoorSocket, UpgradeAccess>();
  /** App id → open connections on this node (metrics; the quota is counted by core.quotas). */
  const perApp = new Map<string, number>();
  core.counters.sources.wsConnections = () => perApp;
  let closing = false;

  /**
   * ws's events, dispatched in `emit` rather than through listeners: `message`, `pong` and
   * `close` to the socket's Connection (once admitted), `error` to the debug log (ws closes
   * the socket after it; a socket never throws an unhandled `error`). Listeners that anyone
   * adds still run after that.
   */
  class ConnectionSocket extends DoorSocket {
    override emit(event: string | symbol, ...args: unknown[]): boolean {
      const connection = this.connection;
      switch (event) {
        case 'message':
          connection?.onMessage(args[0] as RawData as Buffer, args[1] as boolean);
          break;
        case 'pong':
          connection?.onPong();
          break;
        case 'close':
          if (connection !== null) onSocketClose(connection, args[0] as number);
          break;
        case 'error': {
          // A frame ws refused: it closes with the code of that refusal, and reads nothing after.
          const refusedWith = receiverCloseCodeOf(args[0]);
          if (connection !== null && refusedWith !== null) connection.closedWith ??= refusedWith;
          logger.debug({ err: args[0] }, 'websocket error');
          if (this.listenerCount('error') === 0) return true;
          break;
        }
      }
      return super.emit(event, ...args);
    }
  }

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: settings.maxFrameBytes,
    // Required by socket-writer.ts (pre-framed writes) and cheaper for small JSON frames.
    perMessageDeflate: false,
    clientTracking: false,
    WebSocket: ConnectionSocket,
  });

  function onSocketClose(live: Connection, peerCode: number): void {
    const appId = live.app.id;
    const code = live.closedWith ?? peerCode;
    if (code === CLOSE_MESSAGE_TOO_BIG) logger.info({ socketId: live.socketId }, 'closed: a frame exceeded websocket.maxFrameBytes');
    connections.delete(live);
    core.counters.wsClosed.add(`${appId}\n${code}`);
    const left = (perApp.get(appId) ?? 1) - 1;
    if (left === 0) perApp.delete(appId);
    else perApp.set(appId, left);
    core.quotas.release(appId);
    live.onClosed().catch((error: unknown) => logger.warn({ err: error, socketId: live.socketId }, 'connection clean-up failed'));
  }

  /** The access line of the upgrade `wss.handleUpgrade` is checking (it reports a bad handshake synchronously). */
  let handshaking: UpgradeAccess | null = null;
  // A handshake ws finds malformed (headers, version) is answered here, so it gets its access line.
  wss.on('wsClientError', (_error: Error, socket: Duplex) => {
    handshaking?.write(400);
    rejectUpgrade(socket, 400, 'Bad Request', 'Sec-WebSocket-Version: 13\r\n');
  });

  function onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    // An event listener that throws takes the process down: every step below must
    // refuse bad client input rather than throw (e.g. `GET //` is not a parseable URL).
    const url = parseRequestUrl(request.url);
    const match = url === null ? null : APP_PATH.exec(url.pathname);
    const access = new UpgradeAccess(http.log, requestId(request), request, match === null ? null : APP_ROUTE);
    const reject = (status: number, reason: string, headers = ''): void => {
      access.write(status);
      rejectUpgrade(socket, status, reason, headers);
    };
    if (closing) return reject(503, 'Service Unavailable');
    if (url === null || match === null) return reject(url === null ? 400 : 404, url === null ? 'Bad Request' : 'Not Found');
    if (request.method !== 'GET') return reject(405, 'Method Not Allowed', 'Allow: GET\r\n');
    let key: string;
    try {
      key = decodeURIComponent(match[1]!);
    } catch {
      return reject(400, 'Bad Request');
    }
    const query = url.searchParams;
    handshaking = access;
    try {
      wss.handleUpgrade(request, socket, head, (ws) => accept(ws as DoorSocket, socket, key, query, access));
    } finally {
      handshaking = null;
    }
  }

  function accept(ws: DoorSocket, socket: Duplex, key: string, query: URLSearchParams, access: UpgradeAccess): void {
    const refusal = admissionProblem(key, query);
    if (refusal !== null) {
      refuse(ws, refusal, access);
      return;
    }
    const app = core.apps.findByKey(key)!;
    // The cluster-wide quota (core/quotas.ts): usually answered from this node's lease at once.
    const limit = app.limits.maxConnections;
    const admission = core.quotas.admit(app.id, limit);
    if (admission === 'admitted') {
      open(ws, socket, app, protocolV2(query), access);
      return;
    }
    if (typeof admission === 'string') {
      refuseOverQuota(ws, app.id, limit, admission, access);
      return;
    }
    // Only what `open` needs is kept while the lease is asked for: the query for protocol 2 alone.
    const v2 = protocolV2(query);
    admitting.set(ws, access);
    void admission.then((outcome) => {
      // False when preClose has already refused it (RC_ERR_WS_SHUTTING_DOWN).
      const waiting = admitting.delete(ws);
      if (outcome !== 'admitted') {
        if (waiting) refuseOverQuota(ws, app.id, limit, outcome, access);
      } else if (!waiting || ws.readyState !== ws.OPEN) {
        // The node began to close, or the client went away, while the lease was asked for.
        core.quotas.release(app.id);
        access.write(101, { close: CLOSE_ABNORMAL });
      } else open(ws, socket, app, v2, access);
    });
  }

  function refuseOverQuota(ws: WebSocket, appId: string, limit: number, outcome: 'over_quota' | 'unavailable', access: UpgradeAccess): void {
    core.counters.refusals.add(outcome === 'over_quota' ? 'ws\nover_quota' : 'ws\nover_capacity');
    refuse(ws, outcome === 'over_quota' ? createError('RC_ERR_WS_OVER_QUOTA', appId, limit) : createError('RC_ERR_WS_OVER_CAPACITY', appId, limit), access);
  }

  /**
   * Opens an admitted connection (its quota unit is taken; `close` gives it back). `v2` is
   * the upgrade's query when it asked for protocol 2, else null.
   */
  function open(ws: DoorSocket, socket: Duplex, app: AppConfig, v2: URLSearchParams | null, access: UpgradeAccess): void {
    const socketId = socketIds.next();
    access.write(101, { socketId });
    const writer = new SocketWriter(ws, socket, settings.maxBufferedBytes, overflowOf);
    const connection = new Connection({ core, app, socketId, ws, writer, logger, handlers: frameHandlers });
    if (v2 !== null) enableProtocolV2(connection, v2);
    ws.connection = connection;
    forgetClearedTimer(socket);
    connections.add(connection);
    perApp.set(app.id, (perApp.get(app.id) ?? 0) + 1);
    core.counters.wsOpened.add(app.id);
    connection.sendText(connectionEstablished(socketId, settings.activityTimeoutSec));
  }

  /** Why a new connection must be refused, or null. Checked in Pusher's order. */
  function admissionProblem(key: string, query: URLSearchParams): RoomcastError | null {
    const app: AppConfig | undefined = core.apps.findByKey(key);
    if (app === undefined) return createError('RC_ERR_WS_UNKNOWN_APP_KEY', JSON.stringify(key.slice(0, 60)));
    if (!app.enabled) return createError('RC_ERR_APP_DISABLED', app.id);
    const protocol = query.get('protocol');
    if (protocol === null || protocol === '') return createError('RC_ERR_WS_PROTOCOL_MISSING');
    if (!SUPPORTED_PROTOCOLS.has(protocol)) return createError('RC_ERR_WS_PROTOCOL_UNSUPPORTED', JSON.stringify(protocol.slice(0, 20)));
    return null;
  }

  function refuse(ws: WebSocket, error: RoomcastError, access: UpgradeAccess): void {
    const close = pusherCodeOf(error);
    access.write(101, { close, code: error.code });
    ws.send(errorFrame(error));
    ws.close(close, closeReason(error.message));
    setTimeout(() => ws.terminate(), SHUTDOWN_WAIT_MS).unref();
  }

  // One sweeper for every connection: ping after activityTimeoutSec of silence, close
  // (4201) when a ping stays unanswered for pongTimeoutSec, cut (4200) a connection whose
  // read probe stays unanswered for stallTimeoutMs (socket-writer.ts).
  const activityMs = settings.activityTimeoutSec * 1000;
  const pongMs = settings.pongTimeoutSec * 1000;
  const stallMs = settings.stallTimeoutMs;
  const sweepMs = Math.max(100, Math.min(1000, Math.floor(Math.min(activityMs, pongMs, stallMs > 0 ? stallMs : Infinity) / 4)));
  let lastSweepAt = Date.now();
  // Stalled connections found by one sweep are cut a few per event-loop turn (at most
  // CUT_BUDGET_MS of work each), so hundreds stalling together never block the others.
  const toCut = new Map<Connection, number>();
  const cutSome = (): void => {
    const until = performance.now() + CUT_BUDGET_MS;
    // At least one per turn, so the queue always drains.
    for (const [connection, stalledFor] of toCut) {
      toCut.delete(connection);
      connection.onStalled(stalledFor);
      if (performance.now() >= until) break;
    }
    if (toCut.size > 0) setImmediate(cutSome);
  };
  const cutSoon = (connection: Connection, stalledFor: number): void => {
    if (toCut.has(connection)) return;
    toCut.set(connection, stalledFor);
    if (toCut.size === 1) setImmediate(cutSome);
  };
  const sweeper = setInterval(() => {
    const now = Date.now();
    // A sweep that ran late means this process, not the peers, stalled: excuse the probes.
    const lateMs = now - lastSweepAt - sweepMs;
    lastSweepAt = now;
    for (const connection of connections) {
      if (!connection.isOpen) continue;
      if (stallMs > 0) {
        const writer = connection.writer;
        if (lateMs > sweepMs) writer.excuse(lateMs);
        const stalledFor = writer.stalledForMs(now);
        if (stalledFor > stallMs) {
          cutSoon(connection, stalledFor);
          continue;
        }
      }
      if (connection.pingSentAt === 0) {
        if (now - connection.lastActivityAt >= activityMs) connection.ping();
      } else if (now - connection.pingSentAt >= pongMs) {
        connection.close(createError('RC_ERR_WS_PONG_TIMEOUT', settings.pongTimeoutSec));
      }
    }
  }, sweepMs);
  sweeper.unref();

  http.server.on('upgrade', onUpgrade);

  // The upgrade listener stays until the listener has closed: while closing it refuses
  // (503). Without it Node would hand a new upgrade to any other `upgrade` listener (the
  // console's traffic counter) and nobody would answer or close that socket.
  http.addHook('preClose', async () => {
    closing = true;
    clearInterval(sweeper);
    const shutdown = createError('RC_ERR_WS_SHUTTING_DOWN');
    for (const connection of connections) connection.close(shutdown);
    // Refused sockets end by themselves (`refuse` terminates them after SHUTDOWN_WAIT_MS at most).
    for (const [ws, access] of admitting) refuse(ws, shutdown, access);
    admitting.clear();
    const deadline = Date.now() + SHUTDOWN_WAIT_MS;
    while (connections.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const connection of connections) connection.terminate();
    wss.close();
  });
  http.addHook('onClose', async () => {
    clearInterval(sweeper);
    http.server.off('upgrade', onUpgrade);
  });
}

/** Node's symbol for a socket's idle-timeout timer (`kTimeout` in node:net), looked up once; null when absent. */
let timerSymbol: symbol | null | undefined;

/**
 * Drops the socket's reference to its idle-timeout timer once ws has cleared it. The HTTP
 * listener arms one on every socket (`server.idleTimeoutMs`, ops/connections.ts) and ws
 * clears it on upgrade (`setTimeout(0)`), but Node keeps the cleared Timeout, its bound
 * callback and its numbers (≈ 240 B per WebSocket for the connection's whole life) and
 * refreshes it on every read and write. A socket without a timer holds null there, which
 * Node handles everywhere (its state before any `setTimeout`). Only a cleared timer
 * (`_idleTimeout` -1) is dropped; without the symbol this does nothing.
 */
function forgetClearedTimer(socket: Duplex): void {
  if (timerSymbol === undefined) timerSymbol = Object.getOwnPropertySymbols(socket).find((symbol) => symbol.description === 'timeout') ?? null;
  if (timerSymbol === null) return;
  const holder = socket as unknown as Record<symbol, { _idleTimeout?: unknown } | null | undefined>;
  const timer = holder[timerSymbol];
  if (timer !== null && typeof timer === 'object' && timer._idleTimeout === -1) holder[timerSymbol] = null;
}

/** The upgrade's query when it asks for protocol 2 (enableProtocolV2 reads it), else null. */
function protocolV2(query: URLSearchParams): URLSearchParams | null {
  return query.get('protocol') === '2' ? query : null;
}

/** The request target as a URL, or null when it is not one (`//`, `/\\`, …). */
function parseRequestUrl(target: string | undefined): URL | null {
  try {
    return new URL(target ?? '/', 'http://localhost');
  } catch {
    return null;
  }
}

/**
 * Answers an upgrade with a plain HTTP error and ends the socket; one the client keeps
 * half-open is destroyed after SHUTDOWN_WAIT_MS (the server's close waits for every socket).
 */
function rejectUpgrade(socket: Duplex, status: number, reason: string, headers = ''): void {
  socket.on('error', () => {});
  socket.end(`HTTP/1.1 ${status} ${reason}\r\n${headers}Connection: close\r\nContent-Length: 0\r\n\r\n`);
  const timer = setTimeout(() => socket.destroy(), SHUTDOWN_WAIT_MS).unref();
  socket.once('close', () => clearTimeout(timer));
}
