/**
 * Cluster-wide request rates: an app's `limits.restRequestsPerWindow` counts its signed
 * REST requests on every node together, in fixed windows of `limits.restWindowMs`
 * aligned on the backend's clock.
 *
 * Cost: a node takes a block of requests from the window at once
 * (`quotas.restLeaseBlock`, at most a sixteenth of the limit) and spends it locally;
 * concurrent requests that find the block spent wait for one backend call together.
 *
 * Accuracy: the cluster never admits more than the limit per window. Requests a node
 * took but did not spend lapse with the window, so the cluster may refuse up to
 * (nodes × block) requests of a window early; a block of 1 makes it exact at one
 * backend round trip per request. When the backend cannot be reached, each node
 * counts on its own (the limit then applies per node), so an outage never refuses
 * every request.
 */
import type { QuotaStore } from '../backends/ports.ts';

/** Admitted, or refused with how long until the window ends. */
export type RateOutcome = true | { readonly retryAfterMs: number };

interface AppWindow {
  /** Requests taken from the cluster's window and not spent yet. */
  tokens: number;
  /** When the window the tokens belong to ends (this node's clock). */
  endsAt: number;
  /** Set when the cluster's window is spent: refuse until `endsAt`. */
  spent: boolean;
  waiting: ((outcome: RateOutcome) => void)[];
  busy: boolean;
  /** Requests counted on this node alone while the backend is unreachable, in `endsAt`'s window. */
  local: number;
}

export class RequestRates {
  private readonly apps = new Map<string, AppWindow>();

  constructor(
    private readonly store: QuotaStore | undefined,
    private readonly block: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one request of `appId` under `limit` per `windowMs`; synchronous while this node holds tokens. */
  take(appId: string, limit: number, windowMs: number): RateOutcome | Promise<RateOutcome> {
    const window = this.windowOf(appId);
    const now = this.now();
    if (now >= window.endsAt) {
      window.spent = false;
      window.tokens = 0;
      window.local = 0;
    }
    if (window.spent) return { retryAfterMs: window.endsAt - now };
    if (window.tokens > 0 && window.waiting.length === 0) {
      window.tokens--;
      return true;
    }
    if (this.store === undefined) return this.takeLocally(window, limit, windowMs, now);
    return new Promise<RateOutcome>((resolve) => {
      window.waiting.push(resolve);
      if (!window.busy) void this.refill(appId, window, limit, windowMs);
    });
  }

  private windowOf(appId: string): AppWindow {
    let window = this.apps.get(appId);
    if (window === undefined) {
      window = { tokens: 0, endsAt: 0, spent: false, waiting: [], busy: false, local: 0 };
      this.apps.set(appId, window);
    }
    return window;
  }

  private takeLocally(window: AppWindow, limit: number, windowMs: number, now: number): RateOutcome {
    if (now >= window.endsAt) window.endsAt = now - (now % windowMs) + windowMs;
    if (window.local >= limit) return { retryAfterMs: window.endsAt - now };
    window.local++;
    return true;
  }

  /** One backend call at a time per app: takes enough tokens for the waiters plus a block. */
  private async refill(appId: string, window: AppWindow, limit: number, windowMs: number): Promise<void> {
    window.busy = true;
    try {
      while (window.waiting.length > 0) {
        const want = window.waiting.length + Math.max(1, Math.min(this.block(), Math.floor(limit / 16))) - 1;
        const started = this.now();
        let granted: number;
        let resetInMs: number;
        try {
          ({ granted, resetInMs } = await this.store!.take(`rest:${appId}`, want, limit, windowMs));
        } catch {
          for (const resolve of window.waiting.splice(0)) resolve(this.takeLocally(window, limit, windowMs, this.now()));
          return;
        }
        window.tokens = granted;
        window.endsAt = started + resetInMs;
        while (window.waiting.length > 0 && window.tokens > 0) {
          window.tokens--;
          window.waiting.shift()!(true);
        }
        if (window.waiting.length > 0 && granted < want) {
          window.spent = true;
          const retryAfterMs = Math.max(0, window.endsAt - this.now());
          for (const resolve of window.waiting.splice(0)) resolve({ retryAfterMs });
        }
      }
    } finally {
      window.busy = false;
    }
  }
}
