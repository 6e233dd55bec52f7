/**
 * redis: noticing that Redis lost its data while this node ran (`StoreGeneration` in
 * ports.ts). Use it wherever a Redis may restart without persistence or be flushed; the
 * memory backend has no such case (its data lives and dies with the process).
 *
 * One string key, `{p}generation`, holds a random marker. Each check runs
 * `SET {p}generation <fresh> NX GET`: one atomic step that writes a marker when none is
 * there and otherwise returns the one that is. The first successful check only learns
 * the marker. A later check that finds another marker (or none, and writes its own)
 * means the data this node saw is gone: it logs one warn and calls the listeners once.
 * Every node checks for itself, so each notices the loss within one check, whichever
 * node re-created the marker. Checks run when the command connection becomes ready
 * (a restarted Redis always means a reconnect) and every `GENERATION_CHECK_MS` (a
 * FLUSHALL does not drop connections). A failed check (Redis down) changes nothing.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { DataLoss, StoreGeneration } from '../ports.ts';
import type { RedisContext } from './connection.ts';
import { guard } from './faults.ts';

/** How often each node checks the marker while connected, in milliseconds. */
export const GENERATION_CHECK_MS = 1000;

export class RedisGeneration implements StoreGeneration {
  private seen: string | null = null;
  private readonly listeners = new Set<(loss: DataLoss) => void>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly context: RedisContext,
    private readonly logger: Logger,
  ) {
    context.client.on('ready', () => void this.check());
  }

  current(): string | null {
    return this.seen;
  }

  onDataLost(listener: (loss: DataLoss) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts the periodic check (the first check runs at once). */
  start(): Promise<void> {
    if (this.timer === null) {
      this.timer = setInterval(() => void this.check(), GENERATION_CHECK_MS);
      this.timer.unref();
    }
    return this.check();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One check; concurrent callers share the one in flight. Never rejects. */
  check(): Promise<void> {
    this.running ??= this.checkOnce().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async checkOnce(): Promise<void> {
    if (this.context.client.status !== 'ready') return;
    const fresh = `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
    let stored: string | null;
    try {
      stored = (await guard(this.context.commandTimeoutMs, () =>
        this.context.client.call('SET', this.context.keys.generation, fresh, 'NX', 'GET'),
      )) as string | null;
    } catch {
      // Redis is unreachable: the connection's own logs say so; the next check retries.
      return;
    }
    const now = stored ?? fresh;
    const previous = this.seen;
    this.seen = now;
    if (previous === null || previous === now) return;
    this.logger.warn(
      { previous, current: now },
      'redis lost its data (its generation marker changed): presence, occupancy, sessions and stream counters written before are gone; streams start new epochs',
    );
    for (const listener of [...this.listeners]) {
      try {
        listener({ previous, current: now });
      } catch (error) {
        this.logger.error({ err: error }, 'a data-loss listener failed');
      }
    }
  }
}
