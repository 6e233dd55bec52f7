/**
 * redis: the cross-node bus on one Redis pub/sub channel (`{prefix}bus`), read through
 * one dedicated subscriber connection per node. Use it whenever several roomcast nodes
 * share channels; the memory bus serves one process only.
 *
 * Both kinds of bus message travel on that channel, so one connection delivers them in
 * the order Redis published them:
 *   "a:{epoch}:{seq}:{time}:{streamBytes}:{stream}{body}"  an append, published by log_append.lua
 *   "s:{body}"                                       a signal, published by `signal`
 * Lengths are in bytes and the frame is parsed as bytes, so any stream name or body
 * survives (no escaping, no JSON round trip on the hot path).
 *
 * Redis pub/sub is at-most-once: a node that is disconnected misses what is published
 * meanwhile. The subscription is renewed on every reconnect, and the handler is told:
 * `lost` when the subscriber connection closes while subscribed, `resumed` when the
 * subscription is back, so the core catches up appends from the log.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Bus, BusHandler, BusMessage } from '../ports.ts';
import type { RedisContext } from './connection.ts';
import { guard } from './faults.ts';

const COLON = 0x3a;
const APPEND = 0x61; // 'a'
const SIGNAL = 0x73; // 's'
const MAX_EPOCH_LENGTH = 16;
const EPOCH_PATTERN = /^[0-9a-z]+$/;
/** Pause before re-sending a SUBSCRIBE that failed on a live connection, in milliseconds. */
const SUBSCRIBE_RETRY_MS = 500;

export class RedisBus implements Bus {
  private handler: BusHandler | null = null;
  private subscribed = false;
  /** Set when a subscription was lost; the next successful one reports `resumed`. */
  private lost = false;
  private readonly waiters = new Set<() => void>();
  /** The channel name as bytes: compared per frame without decoding it. */
  private readonly channelBytes: Buffer;

  constructor(
    private readonly context: RedisContext,
    private readonly subscriber: Redis,
    private readonly logger: Logger,
  ) {
    this.channelBytes = Buffer.from(context.keys.bus);
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.receive(channel, message));
    subscriber.on('ready', () => void this.subscribe());
    subscriber.on('close', () => {
      if (!this.subscribed) return;
      this.subscribed = false;
      this.lost = true;
      this.tell({ kind: 'lost' });
    });
  }

  setHandler(handler: BusHandler): void {
    this.handler = handler;
  }

  async signal(body: string): Promise<void> {
    await guard(this.context.commandTimeoutMs, () => this.context.client.publish(this.context.keys.bus, `s:${body}`));
  }

  /** True while the subscriber connection is subscribed to the bus channel. */
  isSubscribed(): boolean {
    return this.subscribed;
  }

  /** Resolves once subscribed, or false after `timeoutMs` (the subscription still follows when Redis is back). */
  waitUntilSubscribed(timeoutMs: number): Promise<boolean> {
    if (this.subscribed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(this.subscribed);
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
    });
  }

  private async subscribe(): Promise<void> {
    try {
      await this.subscriber.subscribe(this.context.keys.bus);
      if (this.subscribed) return;
      this.subscribed = true;
      for (const wake of [...this.waiters]) wake();
      if (this.lost) {
        this.lost = false;
        this.tell({ kind: 'resumed' });
      }
    } catch (error) {
      this.logger.warn({ error: (error as Error).message }, 'bus subscription failed; retrying');
      // If the connection dropped, the next `ready` subscribes again. If it is still up
      // (the SUBSCRIBE timed out on a stuck Redis), no `ready` will come: retry here, or
      // this node would stay off the bus. SUBSCRIBE is idempotent.
      if (this.subscriber.status === 'ready') {
        setTimeout(() => {
          if (!this.subscribed && this.subscriber.status === 'ready') void this.subscribe();
        }, SUBSCRIBE_RETRY_MS).unref();
      }
    }
  }

  private receive(channel: Buffer, frame: Buffer): void {
    if (this.handler === null || !channel.equals(this.channelBytes)) return;
    const message = decodeBusFrame(frame);
    if (message === null) {
      this.logger.error({ frame: frame.subarray(0, 80).toString() }, 'dropping a malformed bus frame');
      return;
    }
    this.tell(message);
  }

  private tell(message: BusMessage): void {
    if (this.handler === null) return;
    try {
      this.handler(message);
    } catch (error) {
      // The handler is the core's; a failure there must not stop delivery of the next frame.
      this.logger.error({ err: error }, 'bus handler failed');
    }
  }
}

/** Decodes one frame of the bus channel; null when it is malformed. */
export function decodeBusFrame(frame: Buffer): BusMessage | null {
  if (frame.length < 2 || frame[1] !== COLON) return null;
  if (frame[0] === SIGNAL) return { kind: 'signal', body: frame.toString('utf8', 2) };
  if (frame[0] !== APPEND) return null;
  const epochEnd = frame.indexOf(COLON, 2);
  if (epochEnd <= 2 || epochEnd > 2 + MAX_EPOCH_LENGTH) return null;
  const epoch = frame.toString('latin1', 2, epochEnd);
  if (!EPOCH_PATTERN.test(epoch)) return null;
  let offset = epochEnd + 1;
  const numbers: number[] = [];
  for (let i = 0; i < 3; i++) {
    const end = frame.indexOf(COLON, offset);
    if (end <= offset) return null;
    const value = Number(frame.toString('latin1', offset, end));
    if (!Number.isSafeInteger(value) || value < 0) return null;
    numbers.push(value);
    offset = end + 1;
  }
  const [seq, time, streamBytes] = numbers as [number, number, number];
  if (offset + streamBytes > frame.length) return null;
  return {
    kind: 'append',
    stream: frame.toString('utf8', offset, offset + streamBytes),
    entry: { epoch, seq, time, body: frame.toString('utf8', offset + streamBytes) },
  };
}
