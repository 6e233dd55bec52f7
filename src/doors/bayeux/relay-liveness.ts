/**
 * Liveness of the homes a node relays Bayeux requests to (relay.ts), kept over the relay's
 * own bus messages: the relay has no connection of its own to the home whose reset could
 * tell that it died, only the shared bus, which goes on working for everyone else.
 *
 * The rule is the node heartbeat's (`node.heartbeatIntervalMs`, `node.heartbeatTtlMs`), per
 * pair of nodes and only while a relayed request is held: a home holding requests relayed
 * from a node sends that node `alive` every heartbeat interval ({@link AliveBeacon}); the
 * relaying node takes a home it has heard nothing from (`acc`, `res` or `alive`) for one
 * heartbeat TTL as gone ({@link HomeWatch}). So a home killed (SIGKILL), frozen (SIGSTOP) or
 * cut off from the bus in the middle of a held `/meta/connect` is given up by the relaying
 * node within one TTL of its last word, whatever the hold, as a node is reaped.
 *
 * Silence is measured only while the relaying node runs. A node that stood still (frozen,
 * starved) heard nothing meanwhile, and what the home said waits unread in its bus
 * connection: a watch or deadline whose timer runs more than {@link OWN_STALL_MS} late
 * starts its wait over from then, so the relaying node never takes its own stall for a
 * home's silence and adopts a client from a home that runs.
 *
 * Cost: one bus message per interval per (home, relaying node) pair with held requests,
 * whatever their number; nothing while no request is held.
 */

/** How much later than due a timer may run before it is taken as this node's own stall. */
export const OWN_STALL_MS = 1000;

/** A monotonic clock in ms: a wall-clock step (NTP) must not make every home look silent. */
const monotonic = (): number => performance.now();

/**
 * Calls `expired` once `ms` have passed while this node ran, after the input that arrived
 * by then is read (setImmediate runs after the poll phase). When its timer runs more than
 * {@link OWN_STALL_MS} late, this node stood still: it waits `ms` again from then. Returns
 * what cancels it.
 */
export function afterListening(ms: number, expired: () => void, now: () => number = monotonic): () => void {
  let timer: NodeJS.Timeout | null = null;
  let cancelled = false;
  const arm = (): void => {
    const due = now() + ms;
    timer = setTimeout(() => {
      timer = null;
      setImmediate(() => {
        if (cancelled) return;
        if (now() - due > OWN_STALL_MS) arm();
        else expired();
      });
    }, ms);
  };
  arm();
  return () => {
    cancelled = true;
    if (timer !== null) clearTimeout(timer);
  };
}

/** A home's side: tells the nodes it holds relayed requests for that it still runs. */
export class AliveBeacon {
  /** Relaying node → requests of it held here. */
  private readonly held = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly intervalMs: number,
    /** Sends `alive` to a relaying node. */
    private readonly send: (to: string) => void,
  ) {}

  /** A request from `from` is held here until the returned function is called (once). */
  hold(from: string): () => void {
    this.held.set(from, (this.held.get(from) ?? 0) + 1);
    if (this.timer === null) {
      this.timer = setInterval(() => {
        for (const to of this.held.keys()) this.send(to);
      }, this.intervalMs);
      this.timer.unref();
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.held.get(from) ?? 1) - 1;
      if (left > 0) this.held.set(from, left);
      else this.held.delete(from);
      if (this.held.size === 0 && this.timer !== null) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }
}

/** A relaying node's side: when each home it waits on was last heard from. */
export class HomeWatch {
  /** Home → when it was last heard from (`now()`, ms) and how many requests wait on it. */
  private readonly homes = new Map<string, { heard: number; waiting: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = monotonic,
  ) {}

  /** Anything from `home` arrived: it runs (ignored for a home nothing waits on). */
  heard(home: string): void {
    const entry = this.homes.get(home);
    if (entry !== undefined) entry.heard = this.now();
  }

  /**
   * Calls `gone` once `home` has been silent for the TTL of this node running (heard from
   * now, at the start); returns what stops watching. One timer per watch, armed for the
   * silence left.
   */
  watch(home: string, gone: () => void): () => void {
    let entry = this.homes.get(home);
    if (entry === undefined) {
      entry = { heard: this.now(), waiting: 0 };
      this.homes.set(home, entry);
    } else entry.heard = this.now();
    entry.waiting++;
    const watched = entry;
    let timer: NodeJS.Timeout | null = null;
    const stop = (): void => {
      if (timer === null) return;
      clearTimeout(timer);
      timer = null;
      if (--watched.waiting === 0 && this.homes.get(home) === watched) this.homes.delete(home);
    };
    const judge = (due: number): void => {
      if (timer === null) return;
      const at = this.now();
      // This node stood still: it could not hear the home meanwhile, so the silence starts over.
      if (at - due > OWN_STALL_MS) watched.heard = Math.max(watched.heard, at);
      const silentMs = at - watched.heard;
      if (silentMs < this.ttlMs) {
        arm(this.ttlMs - silentMs);
        return;
      }
      stop();
      gone();
    };
    // Judged after the input already received is read (setImmediate runs after the poll phase).
    const arm = (delayMs: number): void => {
      const due = this.now() + delayMs;
      timer = setTimeout(() => void setImmediate(() => judge(due)), delayMs);
    };
    arm(this.ttlMs);
    return stop;
  }
}
