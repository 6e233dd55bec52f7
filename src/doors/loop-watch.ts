/**
 * The node's view of its own event loop, for load shedding and readiness:
 *
 * - the p99 event-loop delay of each of the last `WINDOWS` windows of `WINDOW_MS`, so a
 *   judgement is about the last few seconds, never about one spike or about the process's
 *   whole life. The delay is sampled by a timer every `SAMPLE_MS` (how late it fires):
 *   perf_hooks `monitorEventLoopDelay` records nothing while JavaScript timers keep the
 *   loop busy back to back, which is exactly the overload to see;
 * - `warm`: false from start until the first calm window (p99 at most `WARM_DELAY_MS`),
 *   or until `MAX_WARMUP_MS` passed whatever the loop did. While a node compiles and fills
 *   its caches the loop stalls in bursts; that is reported by `/ready`, not by refusing
 *   clients.
 *
 * One per Core (every door of a node shares it), created on first use; app.ts closes it.
 */
import { openSync, readSync } from 'node:fs';
import type { Core } from '../core/core.ts';

/** How often the delay is sampled, in milliseconds. */
export const SAMPLE_MS = 20;

/** Length of one judged window, in milliseconds. */
export const WINDOW_MS = 1000;
/** Windows remembered: the "recent" of "sustained recent load". */
export const WINDOWS = 5;
/** A window whose p99 delay is at most this is calm: the node is warm. */
export const WARM_DELAY_MS = 100;
/** A node is warm this long after start whatever its loop did. */
export const MAX_WARMUP_MS = 10_000;

export class LoopWatch {
  private timer: NodeJS.Timeout | null = null;
  private lastCpuMs = mainThreadCpuMs();
  /** Longest block since the last `takeMaxBlockMs`, in ms (see there). */
  private maxBlockMs = 0;
  /** Delays sampled in the current window, in milliseconds. */
  private samples: number[] = [];
  private windowStartedAt = Date.now();
  /** p99 delay of the last complete windows, oldest first, in milliseconds. */
  private readonly recent: number[] = [];
  private readonly startedAt = Date.now();
  private isWarm = false;

  constructor(
    private readonly windowMs = WINDOW_MS,
    private readonly windows = WINDOWS,
  ) {
    this.schedule(Date.now());
  }

  private schedule(now: number): void {
    const due = now + SAMPLE_MS;
    this.timer = setTimeout(() => {
      const firedAt = Date.now();
      const delay = Math.max(0, firedAt - due);
      this.samples.push(delay);
      const cpuMs = mainThreadCpuMs();
      // A late timer is a block only as far as the main thread ran meanwhile; the rest is
      // the machine not scheduling it (other processes), which no code here can fix.
      const blockMs = Math.min(delay, cpuMs - this.lastCpuMs);
      this.lastCpuMs = cpuMs;
      if (blockMs > this.maxBlockMs) this.maxBlockMs = blockMs;
      if (firedAt - this.windowStartedAt >= this.windowMs) this.closeWindow(firedAt);
      if (this.timer !== null) this.schedule(firedAt);
    }, SAMPLE_MS);
    this.timer.unref();
  }

  /** True once the node had a calm window (or `MAX_WARMUP_MS` passed). */
  get warm(): boolean {
    if (!this.isWarm && Date.now() - this.startedAt >= MAX_WARMUP_MS) this.isWarm = true;
    return this.isWarm;
  }

  /** Milliseconds since the watch started. */
  get ageMs(): number {
    return Date.now() - this.startedAt;
  }

  /** The p99 delays of the last complete windows, oldest first (a copy). */
  recentP99Ms(): number[] {
    return [...this.recent];
  }

  /**
   * The delay the loop has *sustained* over the recent windows: the median of their p99s
   * (0 before the first window closes). One bad window out of five does not move it.
   */
  sustainedDelayMs(): number {
    if (this.recent.length === 0) return 0;
    const sorted = [...this.recent].sort((a, b) => a - b);
    return sorted[Math.floor((sorted.length - 1) / 2)]!;
  }

  /**
   * The longest event-loop block since the last call (then reset), in ms: how late a
   * sample fired, bounded by the CPU time this process used meanwhile. Unlike the raw
   * delay it does not count time the machine gave to other processes.
   */
  takeMaxBlockMs(): number {
    const max = this.maxBlockMs;
    this.maxBlockMs = 0;
    return max;
  }

  /** Number of windows remembered so far (at most `WINDOWS`). */
  get windowCount(): number {
    return this.recent.length;
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private closeWindow(now: number): void {
    const sorted = this.samples.sort((a, b) => a - b);
    const p99 = sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
    this.samples = [];
    this.windowStartedAt = now;
    this.recent.push(p99);
    if (this.recent.length > this.windows) this.recent.shift();
    if (!this.isWarm && p99 <= WARM_DELAY_MS) this.isWarm = true;
  }

  /** For tests: the window length this watch uses. */
  get windowLengthMs(): number {
    return this.windowMs;
  }
}

/**
 * CPU time of the main (event-loop) thread, in ms: Linux's /proc/thread-self/stat (utime +
 * stime, in 10 ms ticks), read from the main thread. The file is opened once (by the main
 * thread, which is what `thread-self` names) and read again from offset 0 at each sample:
 * one system call instead of an open, a stat, reads and a close 50 times a second.
 * Elsewhere, the whole process's CPU time, which also counts GC and I/O threads (an upper
 * bound).
 */
function mainThreadCpuMs(): number {
  if (threadStatReadable) {
    try {
      threadStatFd ??= openSync('/proc/thread-self/stat', 'r');
      const length = readSync(threadStatFd, threadStatBuffer, 0, threadStatBuffer.length, 0);
      const stat = threadStatBuffer.toString('latin1', 0, length);
      // Fields after the command name (which may hold spaces), from field 3 on.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      threadStatReadable = false;
    }
  }
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}
/** The main thread's stat file, open for the process's life once read (one descriptor). */
let threadStatFd: number | null = null;
const threadStatBuffer = Buffer.alloc(1024);
let threadStatReadable = process.platform === 'linux';

const byCore = new WeakMap<Core, LoopWatch>();

/** The node's loop watch (created on first use). */
export function loopWatchOf(core: Core): LoopWatch {
  let watch = byCore.get(core);
  if (watch === undefined) {
    watch = new LoopWatch();
    byCore.set(core, watch);
  }
  return watch;
}
