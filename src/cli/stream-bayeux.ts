/**
 * A small Bayeux long-polling client for `roomcast bot tail`: it logs in with a room
 * code and a bot token (`POST /api/v1/login`), handshakes, subscribes to
 * `/service/stream` and holds `/meta/connect` in a loop. On `402` advice it handshakes
 * again; on an HTTP 403 (the login expired) it logs in again; either way it resubscribes
 * with `ext.last_serial`, so the server replays what was missed or sends RecoveryFailed.
 */
import { send, type HttpResult } from './http.ts';

export interface BotStreamOptions {
  readonly url: string;
  readonly ca?: string;
  readonly code: string;
  readonly token: string;
  readonly onEvent: (event: Record<string, unknown> & { id?: string }) => void;
  readonly onNotice: (notice: { readonly kind: string; readonly [field: string]: unknown }) => void;
}

type Message = Record<string, unknown> & { channel?: string; successful?: boolean; clientId?: string; advice?: { reconnect?: string }; id?: string; data?: unknown };

const STREAM = '/service/stream';
const MAX_BACKOFF_MS = 10_000;

export class BotStream {
  private cookie = '';
  private clientId = '';
  private lastSerial: string | undefined;
  private stopped = false;
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(private readonly options: BotStreamOptions) {}

  /** Runs until `stop()`; resolves then. Rejects only on a login refusal (bad code or token). */
  start(): Promise<void> {
    this.loop ??= this.run();
    return this.loop;
  }

  /** Ends the loop at once (a held connect is abandoned; the server expires the session after its grace). */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  private async post(path: string, body: unknown, cookie?: string): Promise<HttpResult> {
    return send({
      method: 'POST',
      url: `${this.options.url}${path}`,
      headers: { 'content-type': 'application/json', ...(cookie === undefined ? {} : { cookie }) },
      body: JSON.stringify(body),
      signal: this.abort.signal,
      ...(this.options.ca === undefined ? {} : { ca: this.options.ca }),
    });
  }

  private async login(): Promise<void> {
    const result = await this.post('/api/v1/login', { room: this.options.code, token: this.options.token });
    if (result.status !== 200) {
      const body = result.json as { code?: string; message?: string } | undefined;
      throw Object.assign(new Error(`login answered ${result.status} ${body?.code ?? ''}: ${body?.message ?? result.text.slice(0, 200)}`), { status: result.status, body: result.json });
    }
    const setCookie = result.headers['set-cookie'] ?? [];
    this.cookie = setCookie.map((header) => header.split(';')[0]).join('; ');
    const room = (result.json as { room?: { id?: string; channel?: string } }).room;
    this.options.onNotice({ kind: 'logged_in', room: room?.id, channel: room?.channel });
  }

  private async bayeux(messages: Message[]): Promise<Message[] | number> {
    const result = await this.post('/api/v1/bayeux', messages, this.cookie);
    if (result.status !== 200) return result.status;
    return Array.isArray(result.json) ? (result.json as Message[]) : [];
  }

  /** Handshake + subscribe (with last_serial); false when the login must be redone. */
  private async join(): Promise<boolean> {
    const hello = await this.bayeux([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
    if (typeof hello === 'number') return false;
    const clientId = hello[0]?.clientId;
    if (hello[0]?.successful !== true || typeof clientId !== 'string') return false;
    this.clientId = clientId;
    const subscribe: Message = { channel: '/meta/subscribe', clientId, subscription: STREAM, ...(this.lastSerial === undefined ? {} : { ext: { last_serial: this.lastSerial } }) };
    const replies = await this.bayeux([subscribe]);
    if (typeof replies === 'number') return false;
    this.deliver(replies);
    this.options.onNotice({ kind: 'subscribed', channel: STREAM, ...(this.lastSerial === undefined ? {} : { resumedFrom: this.lastSerial }) });
    return true;
  }

  private deliver(messages: Message[]): void {
    for (const message of messages) {
      if (message.channel !== STREAM || message.data === undefined) continue;
      if (typeof message.id === 'string') this.lastSerial = message.id;
      this.options.onEvent({ ...(message.data as Record<string, unknown>), ...(typeof message.id === 'string' ? { id: message.id } : {}) });
    }
  }

  private async run(): Promise<void> {
    let backoff = 1000;
    let needLogin = true;
    let needJoin = true;
    while (!this.stopped) {
      try {
        if (needLogin) {
          await this.login();
          needLogin = false;
          needJoin = true;
        }
        if (needJoin) {
          if (!(await this.join())) {
            needLogin = true;
            continue;
          }
          needJoin = false;
        }
        const replies = await this.bayeux([{ channel: '/meta/connect', clientId: this.clientId, connectionType: 'long-polling' }]);
        if (typeof replies === 'number') {
          // 403: the login expired; 412/400: cookies refused. Log in again.
          this.options.onNotice({ kind: 'session_lost', status: replies });
          needLogin = true;
          continue;
        }
        this.deliver(replies);
        const connect = replies.find((message) => message.channel === '/meta/connect');
        if (connect !== undefined && connect.successful !== true && connect.advice?.reconnect === 'handshake') needJoin = true;
        backoff = 1000;
      } catch (error) {
        const status = (error as { status?: number }).status;
        if (status !== undefined && status >= 400 && status < 500) throw error;
        if (this.stopped) return;
        this.options.onNotice({ kind: 'disconnected', message: (error as Error).message, retryInMs: backoff });
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        needJoin = true;
      }
    }
  }
}
