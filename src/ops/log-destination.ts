/**
 * Where the process logger's lines go: stdout, in one write per event-loop turn.
 *
 * A busy node logs a line per request (the access line), and a write per line costs more
 * than the line: the default pino destination hands every line that finds no write in
 * flight to the libuv thread pool, and each such write wakes a pool thread and then the
 * event loop again. Here the lines a turn logs are held and written together.
 *
 * Guarantees:
 * - lines reach stdout whole and in the order they were logged;
 * - a line is written by the next turn of the event loop (`setImmediate`), at once when
 *   the held lines reach `MAX_HELD_BYTES`, and at process exit (the `exit` event, which
 *   `process.exit`, the shutdown path and an uncaught exception all reach); a node killed
 *   with SIGKILL loses at most the lines of its last turn;
 * - memory is bounded: at most `MAX_HELD_BYTES` of lines are held;
 * - writes are synchronous (pino's sonic-boom destination, which retries partial writes
 *   and EAGAIN, and stops writing on EPIPE): a stdout nobody reads holds the node up,
 *   rather than growing its memory without bound.
 */
import { destination } from 'pino';

/** Held lines past which they are written at once, in UTF-16 code units (≈ bytes for JSON lines). */
export const MAX_HELD_BYTES = 64 * 1024;

/** What the batched lines are written to: `write` writes `text` before it returns. */
export interface LineSink {
  write(text: string): unknown;
}

/** A pino destination that writes the lines of one event-loop turn in one write to `sink`. */
export class TurnBatchedLines {
  #held = '';
  #scheduled = false;
  readonly #flushNow = (): void => {
    this.#scheduled = false;
    this.flushSync();
  };

  constructor(private readonly sink: LineSink) {}

  /** Holds one line (pino hands whole lines, newline included). */
  write(line: string): boolean {
    this.#held += line;
    if (this.#held.length >= MAX_HELD_BYTES) this.flushSync();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flushNow);
    }
    return true;
  }

  /** Writes every held line now. */
  flushSync(): void {
    if (this.#held === '') return;
    const text = this.#held;
    this.#held = '';
    this.sink.write(text);
  }

  /** pino's `logger.flush(cb)`: the held lines are written before `done` is called. */
  flush(done?: (error?: Error) => void): void {
    try {
      this.flushSync();
    } catch (error) {
      done?.(error as Error);
      return;
    }
    done?.();
  }
}

let stdoutLines: TurnBatchedLines | null = null;

/**
 * The process's one stdout destination (every logger made without a destination shares
 * it, so lines from several apps in one process stay whole and in order), flushed at exit.
 */
export function processStdoutLines(): TurnBatchedLines {
  if (stdoutLines === null) {
    const lines = new TurnBatchedLines(destination({ dest: 1, sync: true }));
    process.on('exit', () => lines.flushSync());
    stdoutLines = lines;
  }
  return stdoutLines;
}
