/**
 * Pusher socket ids: `<digits>.<digits>` (pusher-js and the server SDKs check
 * /^\d+\.\d+$/). Unique across nodes: the first part is random per process (about
 * 2^40 values), the second a per-process counter with random low digits, so ids are
 * neither repeated on a node nor guessable from a neighbour's.
 */
import { randomInt } from 'node:crypto';

export class SocketIdFactory {
  private readonly prefix = String(randomInt(1, 2 ** 40));
  private counter = 0;

  next(): string {
    this.counter++;
    return `${this.prefix}.${this.counter}${String(randomInt(0, 1_000_000)).padStart(6, '0')}`;
  }
}
