/**
 * redis: a Redis outage as one episode in the log (ports.ts `StoreOutage`). It opens when
 * a connection of the backend that was ready is found not ready (its `reconnecting`
 * event, or a reader asking `ongoing` first: event order between ioredis listeners is not
 * ours to rely on), with ONE warn; it closes when every connection is ready again and the
 * bus is subscribed, with ONE warn saying how long Redis was away and what failed
 * meanwhile (the counts its owners reported). The connections' own lines (lost, each new
 * error text, connected) are info lines while an episode is open.
 *
 * Example: Redis SIGKILLed for 5 s under a node taking publishes → `redis is away (the
 * subscriber connection dropped) …` at 0 s, then `redis is back after 5210 ms; meanwhile
 * 17 failed requests, 3 failed heartbeats, 36 queue errors` (fields `awayMs`,
 * `failedRequests`, …) once the bus is subscribed again.
 */
import type { Logger } from 'pino';
import type { StoreOutage } from '../ports.ts';
import type { Cluster, Redis } from 'ioredis';

/** How often an open episode checks whether every connection is back, in milliseconds. */
const RECHECK_MS = 50;

interface Watched {
  readonly role: string;
  readonly client: Redis | Cluster;
  /** True once the connection was ready: before that, a connection that is not is starting, not lost. */
  wasReady: boolean;
}

export class RedisOutageWatch implements StoreOutage {
  private readonly watched: Watched[] = [];
  private since = 0;
  private readonly counts = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly logger: Logger,
    /** True while the bus subscription is live. */
    private readonly busSubscribed: () => boolean,
  ) {}

  /** Watches `client` (named `role` in the log). */
  track(role: string, client: Redis | Cluster): void {
    const entry: Watched = { role, client, wasReady: client.status === 'ready' };
    this.watched.push(entry);
    client.on('ready', () => {
      entry.wasReady = true;
    });
    client.on('reconnecting', () => this.check());
  }

  get ongoing(): boolean {
    this.check();
    return this.since !== 0;
  }

  count(kind: string): boolean {
    if (!this.ongoing) return false;
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    return true;
  }

  /** Stops watching (the backend is closing: its connections end on purpose). */
  close(): void {
    this.closed = true;
    this.stopTimer();
    this.since = 0;
  }

  /** Opens an episode when a connection that was ready is not. */
  private check(): void {
    if (this.since !== 0 || this.closed) return;
    const down = this.watched.find((entry) => entry.wasReady && entry.client.status !== 'ready');
    if (down === undefined) return;
    this.since = Date.now();
    this.counts.clear();
    this.logger.warn({ component: 'outage', connection: down.role }, `redis is away (the ${down.role} connection dropped): what needs it fails until it answers; reconnecting by itself`);
    this.timer = setInterval(this.recheck, RECHECK_MS);
    this.timer.unref();
  }

  private readonly recheck = (): void => {
    if (this.since === 0 || this.closed) return;
    if (this.watched.some((entry) => entry.client.status !== 'ready') || !this.busSubscribed()) return;
    const awayMs = Date.now() - this.since;
    const counts = Object.fromEntries(this.counts);
    const meanwhile = this.counts.size === 0 ? 'nothing failed meanwhile' : `meanwhile ${[...this.counts].map(([kind, n]) => `${n} ${inWords(kind)}`).join(', ')}`;
    this.logger.warn({ component: 'outage', awayMs, ...counts }, `redis is back after ${awayMs} ms; ${meanwhile}`);
    this.since = 0;
    this.counts.clear();
    this.stopTimer();
  };

  private stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

/** `failedRequests` → `failed requests`. */
function inWords(kind: string): string {
  return kind.replace(/[A-Z]/g, (letter) => ` ${letter.toLowerCase()}`);
}
