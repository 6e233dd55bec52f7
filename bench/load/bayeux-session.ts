/**
 * A lean Bayeux 1.0 long-polling client on undici, for load generation: optional bot
 * login (POST /api/v1/login → the two cookies, sent back as `name=value` pairs, byte
 * for byte), /meta/handshake, /meta/subscribe, then a /meta/connect loop that re-polls
 * as soon as each reply arrives. Replies are not JSON-parsed on the hot path: the
 * caller gets the raw text and finds the `ts:` stamps in it (cheaper than a parse, so
 * the client's CPU stays small next to the server's).
 */
import type { Pool } from 'undici';

export interface LoginArgs {
  room: string;
  token: string;
}

export const BAYEUX_PATH = '/api/v1/bayeux';

let nextMessageId = 1;

export class BayeuxSession {
  clientId = '';
  private cookie: string | undefined;
  private stopped = false;
  connectErrors = 0;
  lastError = '';

  constructor(private readonly pool: Pool) {}

  /** POST /api/v1/login; keeps `name=value` of each Set-Cookie (attributes such as Version dropped). */
  async login(args: LoginArgs): Promise<void> {
    const response = await this.pool.request({
      method: 'POST',
      path: '/api/v1/login',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room: args.room, token: args.token }),
    });
    const text = await response.body.text();
    if (response.statusCode !== 200) throw new Error(`login answered ${response.statusCode}: ${text.slice(0, 200)}`);
    const setCookie = response.headers['set-cookie'];
    const lines = Array.isArray(setCookie) ? setCookie : setCookie === undefined ? [] : [setCookie];
    this.cookie = lines.map((line) => line.split(';')[0]).join('; ');
  }

  /** One POST of a message array; resolves with status and raw text. */
  async post(messages: readonly Record<string, unknown>[]): Promise<{ status: number; text: string }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.cookie !== undefined) headers.cookie = this.cookie;
    const response = await this.pool.request({ method: 'POST', path: BAYEUX_PATH, headers, body: JSON.stringify(messages) });
    return { status: response.statusCode, text: await response.body.text() };
  }

  async handshake(): Promise<void> {
    const reply = await this.post([
      { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: String(nextMessageId++) },
    ]);
    const parsed = parseReply(reply, '/meta/handshake');
    if (typeof parsed.clientId !== 'string') throw new Error(`handshake without clientId: ${reply.text.slice(0, 200)}`);
    this.clientId = parsed.clientId;
  }

  async subscribe(channel: string): Promise<void> {
    const reply = await this.post([{ channel: '/meta/subscribe', clientId: this.clientId, subscription: channel, id: String(nextMessageId++) }]);
    parseReply(reply, '/meta/subscribe');
  }

  /** Publishes one message; resolves with the HTTP status and whether the reply says successful. */
  async publish(channel: string, data: unknown): Promise<{ status: number; successful: boolean; text: string }> {
    const reply = await this.post([{ channel, clientId: this.clientId, data, id: String(nextMessageId++) }]);
    return { status: reply.status, successful: reply.status === 200 && reply.text.includes('"successful":true'), text: reply.text };
  }

  /** Polls /meta/connect until stop(); every reply's text goes to `onReply`. */
  async connectLoop(onReply: (text: string) => void): Promise<void> {
    let first = true;
    while (!this.stopped) {
      try {
        const message: Record<string, unknown> = {
          channel: '/meta/connect',
          clientId: this.clientId,
          connectionType: 'long-polling',
          id: String(nextMessageId++),
        };
        // Ask for an immediate answer to the first connect, as CometD and Faye clients do.
        if (first) message.advice = { timeout: 0 };
        first = false;
        const reply = await this.post([message]);
        if (this.stopped) return;
        if (reply.status !== 200) {
          this.connectErrors++;
          this.lastError = `connect answered ${reply.status}: ${reply.text.slice(0, 200)}`;
          await pause(500);
          continue;
        }
        onReply(reply.text);
        if (reply.text.includes('"reconnect":"handshake"')) {
          this.connectErrors++;
          this.lastError = `connect asked to re-handshake: ${reply.text.slice(0, 200)}`;
          await pause(500);
        }
      } catch (error) {
        if (this.stopped) return;
        this.connectErrors++;
        this.lastError = String(error);
        await pause(500);
      }
    }
  }

  stop(): void {
    this.stopped = true;
  }
}

function parseReply(reply: { status: number; text: string }, channel: string): Record<string, unknown> {
  if (reply.status !== 200) throw new Error(`${channel} answered HTTP ${reply.status}: ${reply.text.slice(0, 200)}`);
  const messages = JSON.parse(reply.text) as Record<string, unknown>[];
  const answer = messages.find((message) => message.channel === channel);
  if (answer === undefined || answer.successful !== true) throw new Error(`${channel} failed: ${reply.text.slice(0, 300)}`);
  return answer;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
