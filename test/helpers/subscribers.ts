/**
 * In-process stand-ins for door connections, registered straight with the core, so REST
 * tests can observe fan-out, occupancy, presence and user termination without a gateway.
 */
import type { ChannelMessage, Subscriber, UserConnection } from '../../src/core/types.ts';

export interface ReceivedEvent {
  readonly channel: string;
  readonly name: string;
  readonly data: string;
  readonly serial: string;
}

/** A subscriber that records what it receives and lets a test wait for it. */
export class RecordingSubscriber implements Subscriber {
  readonly received: ReceivedEvent[] = [];
  private waiters: (() => void)[] = [];

  constructor(readonly connectionId: string) {}

  deliver(message: ChannelMessage): void {
    this.received.push({ channel: message.channel, name: message.record.name, data: message.record.data, serial: message.serial });
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves once `count` events have arrived; rejects after `timeoutMs`. */
  async waitFor(count: number, timeoutMs = 5000): Promise<ReceivedEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.connectionId}: got ${this.received.length} events, wanted ${count}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.received;
  }
}

/** A signed-in user connection that records termination and user events. */
export class RecordingUserConnection implements UserConnection {
  terminated = false;
  readonly userEvents: { name: string; data: string }[] = [];
  private onTerminate: (() => void) | null = null;

  constructor(
    readonly connectionId: string,
    readonly userId: string,
  ) {}

  deliverUserEvent(name: string, data: string): void {
    this.userEvents.push({ name, data });
  }

  terminate(): void {
    this.terminated = true;
    this.onTerminate?.();
  }

  /** Resolves when terminate() is called; rejects after `timeoutMs`. */
  waitForTermination(timeoutMs = 5000): Promise<void> {
    if (this.terminated) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.connectionId} was not terminated`)), timeoutMs);
      this.onTerminate = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** Polls `check` until it returns true or the deadline passes (no fixed sleeps). */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
