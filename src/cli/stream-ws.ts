/**
 * A small Pusher-protocol subscriber for the CLI (`tail`, `history --follow`): it
 * connects to `/app/{key}?protocol=2` (events carry their serial), signs private and
 * presence subscriptions with the app secret as an auth endpoint would, answers pings,
 * and after a dropped connection reconnects (1 s, doubling to 10 s) and subscribes with
 * `last_serial`, so the server replays what was missed, in order and once, or says
 * `roomcast:recovery_failed`.
 *
 * It ends by itself, reporting a `StreamFailure`, in three cases only: the server refuses a
 * subscription (`pusher:subscription_error`), or closes the connection with a 4000–4099
 * code (Pusher: reconnecting with the same parameters fails again), on the first connection
 * or a later one; or the first connection cannot be made (nothing to resume; a wrong URL
 * would retry forever). Reconnecting after any other close of a connection that once
 * opened goes on until `stop()`.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import type { AppCredentials } from './context.ts';

/** One event as the CLI reports it. */
export interface StreamEvent {
  readonly channel: string;
  readonly event: string;
  /** As `eventData` decodes it. */
  readonly data: unknown;
  readonly serial?: string;
  readonly user_id?: string;
}

export interface StreamOptions {
  readonly credentials: AppCredentials;
  readonly channels: readonly string[];
  /** Serial to resume each channel from (history --follow). */
  readonly resumeFrom?: ReadonlyMap<string, string>;
  /** Presence identity; default a random `roomcast-cli-…` user. */
  readonly userId?: string;
  readonly onEvent: (event: StreamEvent) => void;
  /** Connection news for stderr: connected, subscribed, reconnecting, errors. */
  readonly onNotice: (notice: { readonly kind: string; readonly [field: string]: unknown }) => void;
  /** Called once when the stream ends by itself (it is stopped by then); without it, the failure goes to `onNotice`. */
  readonly onFailure?: (failure: StreamFailure) => void;
}

/** Why a stream ended by itself. */
export type StreamFailure =
  /** The server refused to subscribe `channel`; `data` is the `pusher:subscription_error` data ({ type, error, status, code, rc_code }). */
  | { readonly kind: 'refused'; readonly channel: string; readonly data: unknown }
  /** The server closed the connection with `code` in 4000–4099; `data` is its `pusher:error` data ({ code, message, rc_code }). */
  | { readonly kind: 'closed'; readonly code: number; readonly data: unknown }
  /** The first connection could not be made (refused, DNS, TLS, an upgrade the server did not take). */
  | { readonly kind: 'unreachable'; readonly error: Error };

const MAX_BACKOFF_MS = 10_000;

/** Close codes after which Pusher clients do not reconnect: the server refused the connection. */
function isRefusal(code: number): boolean {
  return code >= 4000 && code <= 4099;
}

export class ChannelStream {
  private socket: WebSocket | null = null;
  private readonly lastSerial = new Map<string, string>();
  private stopped = false;
  private backoffMs = 1000;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly userId: string;
  /** Whether a connection ever opened: until one has, a failed connection ends the stream. */
  private openedOnce = false;
  /** The error of the connection being made, before any connection opened. */
  private firstError: Error | null = null;
  /** The data of the last connection-wide `pusher:error`: why a refusing close came. */
  private lastServerError: unknown = undefined;

  constructor(private readonly options: StreamOptions) {
    for (const [channel, serial] of options.resumeFrom ?? []) this.lastSerial.set(channel, serial);
    this.userId = options.userId ?? `roomcast-cli-${randomBytes(4).toString('hex')}`;
  }

  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.socket?.close(1000);
  }

  /** Drops the connection as a network fault would (tests of resume). */
  dropConnection(): void {
    this.socket?.terminate();
  }

  private connect(): void {
    const { credentials } = this.options;
    const base = credentials.url.replace(/^http/, 'ws');
    const socket = new WebSocket(`${base}/app/${encodeURIComponent(credentials.key)}?protocol=2&client=roomcast-cli&version=1.0`, {
      ...(credentials.ca === undefined ? {} : { ca: credentials.ca }),
    });
    this.socket = socket;
    socket.on('open', () => (this.openedOnce = true));
    socket.on('message', (data, isBinary) => {
      if (!isBinary) this.onFrame(socket, data.toString());
    });
    socket.on('error', (error) => {
      if (this.openedOnce) this.options.onNotice({ kind: 'error', message: error.message });
      else this.firstError = error;
    });
    socket.on('close', (code, reason) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      if (isRefusal(code)) {
        this.fail({ kind: 'closed', code, data: this.lastServerError ?? { code, message: reason.toString() } });
        return;
      }
      if (!this.openedOnce) {
        this.fail({ kind: 'unreachable', error: this.firstError ?? new Error(`closed (${code}) before it opened`) });
        return;
      }
      this.options.onNotice({ kind: 'disconnected', code, reason: reason.toString(), retryInMs: this.backoffMs });
      this.retryTimer = setTimeout(() => this.connect(), this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    });
  }

  /** Stops the stream and reports why (once). */
  private fail(failure: StreamFailure): void {
    if (this.stopped) return;
    this.stop();
    if (this.options.onFailure !== undefined) this.options.onFailure(failure);
    else this.options.onNotice(failure);
  }

  private onFrame(socket: WebSocket, text: string): void {
    // Frames already received when the stream stopped are not reported.
    if (this.stopped) return;
    let frame: { event?: string; channel?: string; data?: unknown; serial?: string; user_id?: string };
    try {
      frame = JSON.parse(text) as typeof frame;
    } catch {
      return;
    }
    const data = eventData(frame.data);
    switch (frame.event) {
      case 'pusher:connection_established': {
        const socketId = (data as { socket_id: string }).socket_id;
        this.backoffMs = 1000;
        this.options.onNotice({ kind: 'connected', socket_id: socketId });
        for (const channel of this.options.channels) socket.send(JSON.stringify({ event: 'pusher:subscribe', data: this.subscription(socketId, channel) }));
        return;
      }
      case 'pusher:ping':
        socket.send(JSON.stringify({ event: 'pusher:pong', data: {} }));
        return;
      case 'pusher_internal:subscription_succeeded':
        this.options.onNotice({ kind: 'subscribed', channel: frame.channel });
        return;
      case 'pusher:error':
        if (frame.channel === undefined) this.lastServerError = data;
        this.options.onNotice({ kind: 'server_error', data });
        return;
      case 'pusher:subscription_error':
        this.fail({ kind: 'refused', channel: frame.channel ?? '', data });
        return;
      default:
        break;
    }
    if (frame.channel === undefined || frame.event === undefined) return;
    if (frame.serial !== undefined) this.lastSerial.set(frame.channel, frame.serial);
    this.options.onEvent({
      channel: frame.channel,
      event: frame.event,
      data,
      ...(frame.serial === undefined ? {} : { serial: frame.serial }),
      ...(frame.user_id === undefined ? {} : { user_id: frame.user_id }),
    });
  }

  /** The `pusher:subscribe` data: auth for private/presence channels, `last_serial` to resume. */
  private subscription(socketId: string, channel: string): Record<string, string> {
    const { key, secret } = this.options.credentials;
    const out: Record<string, string> = { channel };
    const lastSerial = this.lastSerial.get(channel);
    if (lastSerial !== undefined) out.last_serial = lastSerial;
    if (channel.startsWith('presence-')) {
      const channelData = JSON.stringify({ user_id: this.userId, user_info: { name: 'roomcast CLI' } });
      out.auth = `${key}:${createHmac('sha256', secret).update(`${socketId}:${channel}:${channelData}`).digest('hex')}`;
      out.channel_data = channelData;
    } else if (channel.startsWith('private-')) {
      out.auth = `${key}:${createHmac('sha256', secret).update(`${socketId}:${channel}`).digest('hex')}`;
    }
    return out;
  }
}

/**
 * An event's `data` as the CLI prints it, live or stored: what pusher-js hands an event
 * handler. Text that is JSON is parsed (`'{"n":1}'` → `{ n: 1 }`, `'2'` → `2`); other
 * text stays as it is (`'hello'`); a value that is not a string is returned unchanged.
 */
export function eventData(data: unknown): unknown {
  if (typeof data !== 'string') return data;
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return data;
  }
}
