/**
 * Observers for tests of the signed REST API, registered straight with the core so
 * they see fan-out and user signals without a gateway: helpers over the shared
 * `RecordingSubscriber` (subscriber.ts) and a recording signed-in user connection.
 */
import type { UserConnection } from '../../src/core/types.ts';
import type { RecordingSubscriber } from './subscriber.ts';

export interface ReceivedEvent {
  readonly channel: string;
  readonly name: string;
  readonly data: string;
  readonly serial: string;
}

/** The events a recording subscriber has received so far, in the shape tests compare. */
export function eventsOf(subscriber: RecordingSubscriber): ReceivedEvent[] {
  return subscriber.messages.map((m) => ({ channel: m.channel, name: m.record.name, data: m.record.data, serial: m.serial }));
}

/** Waits until the subscriber has received at least `count` events; returns them all. */
export async function receivedEvents(subscriber: RecordingSubscriber, count: number, timeoutMs = 5000): Promise<ReceivedEvent[]> {
  await subscriber.waitFor((s) => s.messages.length >= count, timeoutMs, `${count} events`);
  return eventsOf(subscriber);
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
