/**
 * Login attempt limits: at most `perMinute` attempts per client address and per user
 * name in a fixed one-minute window, on this node. Counting every attempt (not only
 * failures) keeps a guesser from learning anything by timing its successes, and the
 * per-name bound slows a guesser that spreads over many addresses.
 *
 * An attempt the address's bound refuses touches no name's window, so one address cannot
 * make windows for new names (and push the others out) faster than its own bound allows.
 * Memory is bounded: past MAX_KEYS tracked keys, windows that have ended are dropped; if
 * none has, the oldest window still under its bound goes (it loses only a partial count),
 * and only when every window is at its bound, the oldest of all.
 */
const WINDOW_MS = 60_000;
const MAX_KEYS = 10_000;

interface Window {
  readonly startedAt: number;
  count: number;
}

export class LoginLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Counts an attempt by `address` for `name`. Returns 0 when allowed, or the seconds
   * to wait when either bound is exceeded (the attempt is then not checked at all).
   */
  attempt(address: string, name: string): number {
    const byAddress = this.count(`a\n${address}`);
    if (byAddress > 0) return byAddress;
    return this.count(`n\n${name}`);
  }

  private count(key: string): number {
    const now = this.now();
    let window = this.windows.get(key);
    if (window === undefined || now - window.startedAt >= WINDOW_MS) {
      this.makeRoom(now);
      window = { startedAt: now, count: 0 };
      this.windows.set(key, window);
    }
    window.count++;
    return window.count > this.perMinute ? Math.max(1, Math.ceil((window.startedAt + WINDOW_MS - now) / 1000)) : 0;
  }

  private makeRoom(now: number): void {
    if (this.windows.size < MAX_KEYS) return;
    for (const [key, window] of this.windows) if (now - window.startedAt >= WINDOW_MS) this.windows.delete(key);
    if (this.windows.size < MAX_KEYS) return;
    for (const [key, window] of this.windows) {
      if (window.count < this.perMinute) {
        this.windows.delete(key);
        return;
      }
    }
    this.windows.delete(this.windows.keys().next().value!);
  }
}
