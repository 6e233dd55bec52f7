/**
 * Connection hygiene of the node's one HTTP listener (REST, bot API, ops routes and the
 * WebSocket upgrades all share it):
 *
 * - timeouts: complete headers within `headersTimeoutMs`, the whole request within
 *   `requestTimeoutMs`, an idle keep-alive connection closed after `keepAliveTimeoutMs`,
 *   a connection on which no byte moves while a request is read or a reply is written
 *   closed after `idleTimeoutMs` (Node's socket timeout; a held Bayeux connect extends its
 *   own socket's, see doors/bayeux/transport.ts). Node checks the first two on an interval (a fraction
 *   of the smallest timeout, at most 0.25 s) and is handed deadlines two intervals early, so a
 *   connection is cut within half a second before its configured bound, never after it.
 * - caps: at most `maxConnections` TCP connections on the node and
 *   `maxConnectionsPerAddress` from one peer address; a connection over either is
 *   destroyed as it arrives, before it costs a parser. Peers listed in
 *   `server.trustedProxies` (addresses, CIDRs, `loopback`) carry many clients and are
 *   exempt from the per-address cap; the node-wide cap still counts them.
 *
 * - accept queue: the listener's backlog is `listenBacklog` (as many as `maxConnections`,
 *   at most 65535; the kernel caps it at `net.core.somaxconn`, 4096 on Linux since 5.4),
 *   not Node's 511. A burst past the backlog (clients reconnecting together after a
 *   restart) would overflow the queue, and the kernel would drop those SYNs: each such
 *   client connects only after its SYN is retransmitted, a second or more later.
 *
 * A WebSocket leaves these timeouts once upgraded (`ws` clears the socket timeout); its
 * liveness is the gateway's ping/pong and stall checks. It still counts against the caps.
 */
import type { Server } from 'node:http';
import { BlockList, isIPv4, isIPv6, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ServerConfig } from '../config/schema.ts';

/** How often Node checks header and request deadlines, at most, in milliseconds. */
const MAX_CHECK_INTERVAL_MS = 250;

/** Largest backlog handed to `listen` (Linux keeps it in 16 bits). */
const MAX_LISTEN_BACKLOG = 65_535;

/** The accept-queue length to listen with: see the module comment. */
export function listenBacklog(settings: ServerConfig): number {
  return settings.maxConnections > 0 ? Math.min(settings.maxConnections, MAX_LISTEN_BACKLOG) : MAX_LISTEN_BACKLOG;
}

/** How long a stopping node lets HTTP requests in flight finish once its listener has closed, in milliseconds. */
export const IN_FLIGHT_WAIT_MS = 2000;
/** How often a stopping node closes the keep-alive connections that went idle, in milliseconds. */
const DRAIN_CHECK_MS = 25;

/**
 * The graceful end of the listener's HTTP connections, started when the node begins to
 * stop: every connection without a request in flight is closed now and then every
 * `DRAIN_CHECK_MS` (a keep-alive connection ends as soon as its request is answered; one
 * that arrives meanwhile gets 503 and `Connection: close`), and whatever is still open
 * `waitMs` after the listener stopped accepting is cut. Upgraded sockets (WebSockets) are
 * their door's to close. Returns what stops the checks (once the server has closed).
 */
export function drainConnections(server: Server, waitMs: number): () => void {
  let stoppedAt = 0;
  const check = (): void => {
    server.closeIdleConnections();
    if (server.listening) return;
    if (stoppedAt === 0) stoppedAt = Date.now();
    else if (Date.now() - stoppedAt >= waitMs) server.closeAllConnections();
  };
  check();
  const timer = setInterval(check, DRAIN_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** Counts of what the caps refused, for logs and tests. */
export interface ConnectionLimitStats {
  /** Connections open now. */
  readonly open: number;
  /** Connections refused because the node was at `maxConnections` (Node's own cap). */
  readonly refusedNode: number;
  /** Connections refused because their address was at `maxConnectionsPerAddress`. */
  readonly refusedAddress: number;
}

/** Applies the timeouts and caps to `server` (call before `listen`); returns live counts. */
export function applyConnectionHygiene(server: Server, settings: ServerConfig, logger: Logger): () => ConnectionLimitStats {
  const checkInterval = Math.min(MAX_CHECK_INTERVAL_MS, Math.floor(settings.headersTimeoutMs / 4));
  // Node cuts a connection at the first check after its deadline (its clock starts when it
  // accepts the connection), so the deadlines handed to Node are two check intervals early:
  // one for the check, one for accepting and closing a burst of connections. A client never
  // gets more than the configured time, and at most half a second less.
  const early = (ms: number): number => Math.max(1, ms - 2 * checkInterval);
  const requestTimeout = Math.max(settings.requestTimeoutMs, settings.headersTimeoutMs);
  server.headersTimeout = early(settings.headersTimeoutMs);
  server.requestTimeout = early(requestTimeout);
  server.keepAliveTimeout = settings.keepAliveTimeoutMs;
  server.setTimeout(settings.idleTimeoutMs);
  // Read by Node when the server starts listening.
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = checkInterval;

  const proxies = trustedPeers(settings.trustedProxies);
  const perAddress = new Map<string, number>();
  let open = 0;
  let refusedNode = 0;
  let refusedAddress = 0;
  let lastWarnAt = 0;
  const warnRefused = (why: string): void => {
    // A flood is one line a minute, not one per connection.
    const now = Date.now();
    if (now - lastWarnAt < 60_000) return;
    lastWarnAt = now;
    logger.warn({ module: 'connections', refusedNode, refusedAddress }, `refusing connections: ${why}`);
  };

  // Node closes a connection past `maxConnections` before any listener sees it.
  if (settings.maxConnections > 0) server.maxConnections = settings.maxConnections;
  server.on('drop', () => {
    refusedNode++;
    warnRefused(`the node has ${settings.maxConnections} connections (server.maxConnections)`);
  });
  // One close listener for all exempt sockets and one for all counted ones, not a closure
  // per socket: a node holds tens of thousands of idle WebSockets. A counted socket's
  // address is read again at close (Node keeps the peer's address once it was read).
  const onExemptClose = (): void => {
    open--;
  };
  function onCountedClose(this: Socket): void {
    open--;
    const address = normalise(this.remoteAddress ?? '');
    const left = (perAddress.get(address) ?? 1) - 1;
    if (left <= 0) perAddress.delete(address);
    else perAddress.set(address, left);
  }
  // `prependListener`: before the HTTP server attaches a parser to the socket.
  server.prependListener('connection', (socket: Socket) => {
    // Without a per-address cap the address is not needed (nor read).
    const address = settings.maxConnectionsPerAddress === 0 ? '' : normalise(socket.remoteAddress ?? '');
    const exempt = settings.maxConnectionsPerAddress === 0 || isTrusted(proxies, address);
    const mine = exempt ? 0 : (perAddress.get(address) ?? 0);
    if (!exempt && mine >= settings.maxConnectionsPerAddress) {
      refusedAddress++;
      warnRefused(`one address has ${mine} connections (server.maxConnectionsPerAddress)`);
      socket.destroy();
      return;
    }
    open++;
    if (!exempt) perAddress.set(address, mine + 1);
    socket.on('close', exempt ? onExemptClose : onCountedClose);
  });
  return () => ({ open, refusedNode, refusedAddress });
}

/** `::ffff:1.2.3.4` and `1.2.3.4` are one peer. */
function normalise(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

function trustedPeers(entries: readonly string[]): BlockList | null {
  if (entries.length === 0) return null;
  const list = new BlockList();
  for (const entry of entries) {
    if (entry === 'loopback') {
      list.addSubnet('127.0.0.0', 8, 'ipv4');
      list.addAddress('::1', 'ipv6');
      continue;
    }
    const [address = '', bits] = entry.split('/');
    const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
    // Names proxy-addr knows (linklocal, uniquelocal) or host names: not exempted here.
    if (family === null) continue;
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return list;
}

function isTrusted(list: BlockList | null, address: string): boolean {
  if (list === null || address === '') return false;
  return list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
}
