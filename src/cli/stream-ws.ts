/**
 * A small Pusher-protocol subscriber for the CLI (`tail`, `history --follow`): it
 * connects to `/app/{key}?protocol=2` (events carry their serial), signs private and
 * presence subscriptions with the app secret as an auth endpoint would, answers pings,
 * and after a dropped connection reconnects (1 s, doubling to 10 s) and subscribes with
 * `last_serial`, so the server replays what was missed, in order and once, or says
 * `roomcast:recovery_failed`.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import type { AppCredentials } from './context.ts';

/** One event as the CLI reports it. */
export interface StreamEvent {
  readonly channel: string;
  readonly event: string;
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
}

const MAX_BACKOFF_MS = 10_000;

export class ChannelStream {
  private socket: WebSocket | null = null;
  private readonly lastSerial = new Map<string, string>();
  private stopped = false;
  private backoffMs = 1000;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly userId: string;

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
    socket.on('message', (data, isBinary) => {
      if (!isBinary) this.onFrame(socket, data.toString());
    });
    socket.on('error', (error) => this.options.onNotice({ kind: 'error', message: error.message }));
    socket.on('close', (code, reason) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      this.options.onNotice({ kind: 'disconnected', code, reason: reason.toString(), retryInMs: this.backoffMs });
      this.retryTimer = setTimeout(() => this.connect(), this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    });
  }

  private onFrame(socket: WebSocket, text: string): void {
    let frame: { event?: string; channel?: string; data?: unknown; serial?: string; user_id?: string };
    try {
      frame = JSON.parse(text) as typeof frame;
    } catch {
      return;
    }
    const data = typeof frame.data === 'string' ? parseMaybe(frame.data) : frame.data;
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
        this.options.onNotice({ kind: 'server_error', data });
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

function parseMaybe(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
