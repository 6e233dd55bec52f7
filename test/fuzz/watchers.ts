/**
 * Healthy clients kept through a fuzz run, one per door, all on `watch-app`:
 * - a REST publisher signing a marker event every `MARKER_MS` to the public channel
 *   `watch` and the room's mapped channel `presence-room-watch-lobby.watch`;
 * - a WebSocket subscriber on `watch`;
 * - a Bayeux bot logged into the watch room, subscribed to `/presence-room-watch-lobby/watch`,
 *   long-polling `/meta/connect` for the whole run.
 * At the end every marker must have been accepted (REST 200, and listed by the REST
 * history of `watch`) and received by both subscribers: "missed" counts the ones that
 * were not.
 */
import { WebSocket } from 'ws';
import { signQuery } from '../../src/doors/rest/signature.ts';
import { WATCH_APP, WATCH_BOT, WATCH_ROOM } from './server.ts';

export const MARKER_MS = 250;
const WATCH_CHANNEL = 'watch';
const MAPPED_CHANNEL = `${WATCH_ROOM.channel}.watch`;

export interface WatchReport {
  readonly markers: number;
  /** Markers whose publish did not answer 200. */
  readonly restFailed: number;
  /** Markers missing from the REST history of `watch`. */
  readonly restMissed: number;
  readonly wsMissed: number;
  readonly bayeuxMissed: number;
  /** Slowest marker publish, in ms. */
  readonly restMaxMs: number;
}

export class Watchers {
  private readonly sent: string[] = [];
  private readonly wsSeen = new Set<string>();
  private readonly bayeuxSeen = new Set<string>();
  private restFailed = 0;
  private restMaxMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private running = true;
  private ws: WebSocket | null = null;
  private polling: Promise<void> = Promise.resolve();
  private inFlight = new Set<Promise<void>>();

  constructor(private readonly origin: string, private readonly port: number) {}

  async start(): Promise<void> {
    this.ws = await this.subscribeWs();
    const bot = await this.loginBot();
    this.polling = this.poll(bot);
    this.timer = setInterval(() => {
      const marker = `m-${this.sent.length}`;
      this.sent.push(marker);
      const publish = this.publish(marker);
      this.inFlight.add(publish);
      void publish.finally(() => this.inFlight.delete(publish));
    }, MARKER_MS);
  }

  /** Stops publishing, waits for the last markers to arrive (bounded), and reports. */
  async finish(): Promise<WatchReport> {
    if (this.timer !== null) clearInterval(this.timer);
    await Promise.all(this.inFlight);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (this.wsSeen.size < this.sent.length || this.bayeuxSeen.size < this.sent.length)) await new Promise((resolve) => setTimeout(resolve, 100));
    this.running = false;
    this.ws?.terminate();
    const listed = await this.history();
    await Promise.race([this.polling, new Promise((resolve) => setTimeout(resolve, 3000))]);
    const missed = (seen: Set<string>): number => this.sent.filter((marker) => !seen.has(marker)).length;
    return {
      markers: this.sent.length,
      restFailed: this.restFailed,
      restMissed: missed(listed),
      wsMissed: missed(this.wsSeen),
      bayeuxMissed: missed(this.bayeuxSeen),
      restMaxMs: Math.round(this.restMaxMs),
    };
  }

  private async publish(marker: string): Promise<void> {
    const path = `/apps/${WATCH_APP.id}/events`;
    const body = JSON.stringify({ name: 'marker', channels: [WATCH_CHANNEL, MAPPED_CHANNEL], data: marker });
    const started = performance.now();
    try {
      const response = await fetch(`${this.origin}${path}?${signQuery(WATCH_APP, 'POST', path, {}, body)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      await response.arrayBuffer();
      if (response.status !== 200) this.restFailed++;
    } catch {
      this.restFailed++;
    }
    this.restMaxMs = Math.max(this.restMaxMs, performance.now() - started);
  }

  private async history(): Promise<Set<string>> {
    const seen = new Set<string>();
    const path = `/apps/${WATCH_APP.id}/channels/${WATCH_CHANNEL}/history`;
    let cursor: string | undefined;
    for (let page = 0; page < 200; page++) {
      const params: Record<string, string> = { limit: '100', direction: 'oldest_first' };
      if (cursor !== undefined) params.cursor = cursor;
      const response = await fetch(`${this.origin}${path}?${signQuery(WATCH_APP, 'GET', path, params)}`);
      if (response.status !== 200) break;
      const body = (await response.json()) as { items?: { data?: unknown }[]; next_cursor?: string | null };
      for (const item of body.items ?? []) seen.add(String(item.data));
      if (typeof body.next_cursor !== 'string') break;
      cursor = body.next_cursor;
    }
    return seen;
  }

  private subscribeWs(): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${this.port}/app/${WATCH_APP.key}?protocol=7&client=watch&version=1`);
      ws.on('message', (data) => {
        const frame = JSON.parse(data.toString()) as { event: string; data?: unknown };
        if (frame.event === 'pusher:connection_established') ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: WATCH_CHANNEL } }));
        else if (frame.event === 'pusher_internal:subscription_succeeded') resolve(ws);
        else if (frame.event === 'marker') this.wsSeen.add(String(frame.data));
        else if (frame.event === 'pusher:ping') ws.send('{"event":"pusher:pong","data":{}}');
      });
      ws.once('error', reject);
    });
  }

  private async loginBot(): Promise<{ cookie: string; clientId: string }> {
    const login = await fetch(`${this.origin}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ room: WATCH_ROOM.code, token: WATCH_BOT.token }) });
    if (login.status !== 200) throw new Error(`watch bot login: ${login.status} ${await login.text()}`);
    const cookie = login.headers.getSetCookie().map((line) => line.split(';')[0]).join('; ');
    const [shake] = await this.bayeux(cookie, [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
    const clientId = String(shake!.clientId);
    const replies = await this.bayeux(cookie, [
      { channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } },
      { channel: '/meta/subscribe', clientId, subscription: `/${MAPPED_CHANNEL.replaceAll('.', '/')}` },
    ]);
    if (!replies.some((reply) => reply.channel === '/meta/subscribe' && reply.successful === true)) throw new Error(`watch bot subscribe: ${JSON.stringify(replies)}`);
    return { cookie, clientId };
  }

  private async poll(bot: { cookie: string; clientId: string }): Promise<void> {
    while (this.running) {
      try {
        const replies = await this.bayeux(bot.cookie, [{ channel: '/meta/connect', clientId: bot.clientId, connectionType: 'long-polling' }]);
        // Mapped channels carry the bot message shape: the event's data is `contentData`.
        for (const reply of replies) {
          const data = reply.data as { contentData?: unknown } | undefined;
          if (reply.channel !== '/meta/connect' && data !== undefined) this.bayeuxSeen.add(String(data.contentData));
        }
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  private async bayeux(cookie: string, messages: unknown[]): Promise<Record<string, unknown>[]> {
    const response = await fetch(`${this.origin}/api/v1/bayeux`, { method: 'POST', headers: { 'content-type': 'application/json', cookie }, body: JSON.stringify(messages) });
    if (response.status !== 200) throw new Error(`bayeux ${response.status}`);
    return (await response.json()) as Record<string, unknown>[];
  }
}
