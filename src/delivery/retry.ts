/**
 * Retry timing shared by every outbound delivery (push providers, webhook endpoints).
 *
 * Layer: `delivery/` sits below `push/` and `webhooks/` (both import it) and above the
 * backend ports it builds on; it imports no core, door or protocol module.
 */

export interface BackoffPolicy {
  /** Delay before the first retry, in milliseconds; doubled each attempt. */
  readonly baseMs: number;
  /** Cap of the exponential delay, in milliseconds. */
  readonly maxMs: number;
}

/**
 * Exponential backoff with ±20 % jitter, capped at `maxMs`; with a server's Retry-After,
 * exactly that plus up to 10 % of `baseMs` (so throttled senders do not all come back at
 * once), never sooner and never capped (the caller decides whether to wait that long).
 * `attempt` is the attempt that just failed: 1 → ~base, 2 → ~2 × base, 3 → ~4 × base.
 *
 * Example (base 1000, max 8000, random 0.5): attempts 1…5 → 1000, 2000, 4000, 8000, 8000;
 * Retry-After 5000 → 5050.
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return Math.round(retryAfterMs + policy.baseMs * 0.1 * random());
  const exponential = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential * (0.8 + 0.4 * random()));
}
