/**
 * Server-sent events for console pages: one stream per open page, fed by shared
 * snapshot feeds. A feed (keyed by what it shows: `overview`, `channel app-1/x`, …)
 * computes its snapshot once per interval, whatever the number of pages watching it,
 * and sends only when the snapshot changed: a console left open on a quiet cluster
 * costs one computation per second per distinct page kind, and no bytes.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toRoomcastError } from '../http-errors.ts';
import { CONTENT_SECURITY_POLICY } from './assets.ts';

/** A comment line is sent this often so proxies keep an idle stream open, in milliseconds. */
const KEEPALIVE_MS = 15_000;

/** One open event stream to a browser. */
export class EventStream {
  private closed = false;
  private readonly cleanups: (() => void)[] = [];
  private readonly keepalive: NodeJS.Timeout;

  constructor(request: FastifyRequest, private readonly reply: FastifyReply) {
    reply.hijack();
    reply.raw.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
      'X-Request-Id': request.id,
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
      'X-Content-Type-Options': 'nosniff',
    });
    // Tells EventSource how long to wait before reconnecting after the stream drops.
    reply.raw.write('retry: 2000\n\n');
    request.raw.on('close', () => this.close());
    this.keepalive = setInterval(() => this.write(': keepalive\n\n'), KEEPALIVE_MS);
    this.keepalive.unref();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends one event whose data is JSON text (already serialised, possibly shared by many streams). */
  sendText(event: string, json: string): void {
    this.write(`event: ${event}\ndata: ${json}\n\n`);
  }

  send(event: string, data: unknown): void {
    this.sendText(event, JSON.stringify(data));
  }

  /** Runs `cleanup` when the stream closes (browser gone, logout, shutdown). */
  onClose(cleanup: () => void): void {
    if (this.closed) cleanup();
    else this.cleanups.push(cleanup);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepalive);
    for (const cleanup of this.cleanups.splice(0)) {
      try {
        cleanup();
      } catch {
        // a cleanup must not keep the others from running
      }
    }
    this.reply.raw.end();
  }

  private write(text: string): void {
    if (!this.closed && !this.reply.raw.destroyed) this.reply.raw.write(text);
  }
}

type Deliver = (json: string) => void;

interface Feed {
  readonly key: string;
  readonly subscribers: Map<string, Deliver>;
  readonly timer: NodeJS.Timeout;
  last: string | null;
  running: boolean;
}

/** Snapshot feeds shared by every stream on this node; see the file comment. */
export class SnapshotFeeds {
  private readonly feeds = new Map<string, Feed>();

  /** `onUnexpected` hears snapshots that failed with an error outside the catalogue (a bug, worth a log line). */
  constructor(private readonly onUnexpected: (error: unknown, key: string) => void = () => undefined) {}

  /**
   * Delivers `produce()`'s snapshot (as JSON text) every `intervalMs` while it changes,
   * and at once when known. Returns the unsubscribe function. A snapshot that throws is
   * delivered as `{ "error": { code, message } }`, so the page can say what is wrong.
   */
  subscribe(key: string, intervalMs: number, produce: () => Promise<unknown>, deliver: Deliver): () => void {
    let feed = this.feeds.get(key);
    if (feed === undefined) {
      const created: Feed = { key, subscribers: new Map(), last: null, running: false, timer: setInterval(() => void this.tick(created, produce), intervalMs) };
      created.timer.unref();
      feed = created;
      this.feeds.set(key, feed);
    }
    const id = randomBytes(6).toString('hex');
    feed.subscribers.set(id, deliver);
    if (feed.last !== null) deliver(feed.last);
    else void this.tick(feed, produce);
    const current = feed;
    return () => {
      current.subscribers.delete(id);
      if (current.subscribers.size === 0 && this.feeds.get(key) === current) {
        clearInterval(current.timer);
        this.feeds.delete(key);
      }
    };
  }

  /** Feeds currently computed (for tests and the cost figures). */
  get size(): number {
    return this.feeds.size;
  }

  closeAll(): void {
    for (const feed of this.feeds.values()) clearInterval(feed.timer);
    this.feeds.clear();
  }

  private async tick(feed: Feed, produce: () => Promise<unknown>): Promise<void> {
    if (feed.running || feed.subscribers.size === 0) return;
    feed.running = true;
    let text: string;
    try {
      text = JSON.stringify(await produce());
    } catch (thrown) {
      const error = toRoomcastError(thrown);
      if (error.code === 'RC_ERR_INTERNAL') this.onUnexpected(thrown, feed.key);
      text = JSON.stringify({ error: { code: error.code, message: error.message } });
    } finally {
      feed.running = false;
    }
    if (text === feed.last) return;
    feed.last = text;
    for (const deliver of feed.subscribers.values()) deliver(text);
  }
}
