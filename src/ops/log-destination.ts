/**
 * Where the process logger's lines go: stdout, held briefly and written in batches, the
 * way a web server's buffered access log is (nginx's `access_log … buffer= flush=`).
 *
 * A busy node logs a line per request (the access line), and a write per line costs more
 * than the line: the default pino destination hands every line that finds no write in
 * flight to the libuv thread pool, and each such write wakes a pool thread and then the
 * event loop again. Here lines are held and written together.
 *
 * Guarantees:
 * - lines reach stdout whole and in the order they were logged;
 * - a line at warn or above is written at once, with every line held before it;
 * - other lines are written within `FLUSH_INTERVAL_MS`, at once when the held lines reach
 *   `MAX_HELD_BYTES`, and at process exit (the `exit` event, which `process.exit`, the
 *   shutdown path and an uncaught exception all reach); a node killed with SIGKILL loses
 *   at most the info and debug lines of its last `FLUSH_INTERVAL_MS`;
 * - memory is bounded: at most `MAX_HELD_BYTES` of lines are held;
 * - writes are synchronous (pino's sonic-boom destination, which retries partial writes
 *   and EAGAIN, and stops writing on EPIPE): a stdout nobody reads holds the node up,
 *   rather than growing its memory without bound.
 */
import { destination } from 'pino';

/** Held lines past which they are written at once, in UTF-16 code units (≈ bytes for JSON lines). */
export const MAX_HELD_BYTES = 16 * 1024;

/** Longest time a held line waits for its write (milliseconds). */
export const FLUSH_INTERVAL_MS = 100;

/** What the batched lines are written to: `write` writes `text` before it returns. */
export interface LineSink {
  write(text: string): unknown;
}

/** The start of every line pino writes with its default level formatting: `{"level":30,…`. */
const LEVEL_PREFIX = '{"level":';
/** The first digit of warn (40), error (50) and fatal (60). */
const WARN_DIGIT = 0x34;

/** Whether `line` is at warn or above, or not a line whose level can be read (then written at once too). */
function isUrgent(line: string): boolean {
  return !line.startsWith(LEVEL_PREFIX) || line.charCodeAt(LEVEL_PREFIX.length) >= WARN_DIGIT || line.charCodeAt(LEVEL_PREFIX.length + 2) !== 0x2c;
}

/** A pino destination that holds lines and writes them to `sink` in batches. */
export class BatchedLines {
  #held = '';
  #timer: NodeJS.Timeout | null = null;
  readonly #flushNow = (): void => {
    this.#timer = null;
    this.flushSync();
  };

  constructor(
    private readonly sink: LineSink,
    private readonly intervalMs = FLUSH_INTERVAL_MS,
  ) {}

  /** Holds one line (pino hands whole lines, newline included), or writes it at once with what is held. */
  write(line: string): boolean {
    this.#held += line;
    if (this.#held.length >= MAX_HELD_BYTES || isUrgent(line)) this.flushSync();
    else if (this.#timer === null) {
      this.#timer = setTimeout(this.#flushNow, this.intervalMs);
      // The timer does not keep the process alive: exit writes what is held.
      this.#timer.unref();
    }
    return true;
  }

  /** Writes every held line now. */
  flushSync(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
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

let stdoutLines: BatchedLines | null = null;

/**
 * The process's one stdout destination (every logger made without a destination shares
 * it, so lines from several apps in one process stay whole and in order), flushed at exit.
 */
export function processStdoutLines(): BatchedLines {
  if (stdoutLines === null) {
    const lines = new BatchedLines(destination({ dest: 1, sync: true }));
    process.on('exit', () => lines.flushSync());
    stdoutLines = lines;
  }
  return stdoutLines;
}
