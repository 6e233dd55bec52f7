/**
 * A raw Pusher-protocol test client on `ws`: records every frame, and lets a test wait
 * for the next frame matching a predicate (with a deadline), or for the close.
 */
import { createHmac } from 'node:crypto';
import { WebSocket } from 'ws';
import { TEST_APP } from './app.ts';

export interface PusherFrame {
  readonly event: string;
  readonly channel?: string;
  readonly data?: unknown;
  readonly user_id?: string;
}

export class RawPusherClient {
  readonly frames: PusherFrame[] = [];
  socketId = '';
  closed: Promise<{ code: number; reason: string }>;
  private readonly waiters = new Set<() => void>();

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      this.frames.push(JSON.parse(data.toString()) as PusherFrame);
      for (const wake of this.waiters) wake();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('error', () => {});
  }

  /** Connects to `/app/{key}`; resolves after `pusher:connection_established` (or the first frame when refused, within `timeoutMs`). */
  static async connect(port: number, key: string = TEST_APP.key, query = 'protocol=7&client=test&version=1.0', timeoutMs = 5000): Promise<RawPusherClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${key}?${query}`);
    const client = new RawPusherClient(ws);
    const first = await client.next(() => true, timeoutMs);
    if (first.event === 'pusher:connection_established') client.socketId = (JSON.parse(first.data as string) as { socket_id: string }).socket_id;
    else client.frames.unshift(first); // a refusal: leave it for the test to read
    return client;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The first not-yet-consumed frame that matches; consumes it. */
  next(match: (frame: PusherFrame) => boolean, timeoutMs = 5000): Promise<PusherFrame> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const index = this.frames.findIndex(match);
        if (index < 0) return false;
        const [frame] = this.frames.splice(index, 1);
        this.waiters.delete(wake);
        clearTimeout(timer);
        resolve(frame!);
        return true;
      };
      const wake = (): void => void check();
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames).slice(0, 500)}`));
      }, timeoutMs);
      if (!check()) this.waiters.add(wake);
    });
  }

  nextEvent(event: string, channel?: string, timeoutMs?: number): Promise<PusherFrame> {
    return this.next((frame) => frame.event === event && (channel === undefined || frame.channel === channel), timeoutMs);
  }

  async subscribe(channel: string, channelData?: unknown, secret: string = TEST_APP.secret): Promise<PusherFrame> {
    const data: Record<string, string> = { channel };
    if (channel.startsWith('private-') || channel.startsWith('presence-')) {
      const text = channelData === undefined ? undefined : JSON.stringify(channelData);
      if (text !== undefined) data.channel_data = text;
      data.auth = channelAuth(this.socketId, channel, text, secret);
    }
    this.send({ event: 'pusher:subscribe', data });
    return this.next((frame) => frame.channel === channel && /subscription_(succeeded|error)$/.test(frame.event));
  }

  close(): void {
    this.ws.close();
  }
}

export function channelAuth(socketId: string, channel: string, channelData?: string, secret: string = TEST_APP.secret): string {
  const signed = channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`;
  return `${TEST_APP.key}:${createHmac('sha256', secret).update(signed).digest('hex')}`;
}

/** Polls `condition` until it holds or the deadline passes. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
