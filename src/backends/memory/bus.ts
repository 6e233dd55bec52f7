/**
 * memory: in-process bus. One process only; use redis to share channels across nodes.
 * Delivery is deferred to a microtask so a publisher never re-enters its own handler
 * synchronously (the same ordering shape as a real network hop).
 */
import type { Bus, BusHandler, BusMessage } from '../ports.ts';

export class MemoryBus implements Bus {
  private handler: BusHandler | null = null;

  setHandler(handler: BusHandler): void {
    this.handler = handler;
  }

  async signal(body: string): Promise<void> {
    this.emit({ kind: 'signal', body });
  }

  /** Used by the memory log to broadcast appends in seq order. */
  emit(message: BusMessage): void {
    const handler = this.handler;
    if (handler !== null) queueMicrotask(() => handler(message));
  }
}
