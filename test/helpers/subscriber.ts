/**
 * A core `Subscriber` for tests: records the channel messages and presence changes it
 * is given and lets a test wait for them (event-driven, with a deadline).
 */
import { randomBytes } from 'node:crypto';
import type { ChannelMessage, PresenceChange, Subscriber } from '../../src/core/types.ts';

export class RecordingSubscriber implements Subscriber {
  readonly connectionId: string;
  readonly messages: ChannelMessage[] = [];
  readonly presence: PresenceChange[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(connectionId = `test.${randomBytes(4).toString('hex')}`) {
    this.connectionId = connectionId;
  }

  deliver(message: ChannelMessage): void {
    this.messages.push(message);
    this.wake();
  }

  presenceChanged(change: PresenceChange): void {
    this.presence.push(change);
    this.wake();
  }

  /** Waits until `predicate` holds; fails with what was seen after `timeoutMs`. */
  async waitFor(predicate: (subscriber: this) => boolean, timeoutMs = 5000, what = 'a condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; saw ${this.messages.length} messages, presence ${JSON.stringify(this.presence)}`);
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
