/**
 * memory: quotas, rates and load figures of one process. Every holder lives here, so a
 * limit is exact; use redis to share them across nodes.
 */
import type { LeaseReply, LeaseRequest, QuotaStore } from '../ports.ts';

interface Lease {
  units: number;
  /** Units in use (≤ units), as the holder last reported. */
  used: number;
  /** The holder reports every admission and close at once. */
  exact: boolean;
  expiresAt: number;
}

export class MemoryQuotas implements QuotaStore {
  /** quota name → holder → lease */
  private readonly leases = new Map<string, Map<string, Lease>>();
  /** rate name → window start (ms) and units taken in it */
  private readonly windows = new Map<string, { start: number; taken: number }>();
  /** gauge name → holder → figure and when it was reported */
  private readonly figures = new Map<string, Map<string, { value: number; at: number }>>();

  constructor(private readonly now: () => number = Date.now) {}

  async lease(name: string, holder: string, request: LeaseRequest, limit: number, ttlMs: number): Promise<LeaseReply> {
    const now = this.now();
    let holders = this.leases.get(name);
    if (holders === undefined) this.leases.set(name, (holders = new Map()));
    let total = 0;
    let used = 0;
    const asks: string[] = [];
    for (const [id, lease] of holders) {
      if (lease.expiresAt <= now) holders.delete(id);
      else if (id !== holder) {
        total += lease.units;
        used += lease.used;
        if (!lease.exact || lease.units > lease.used) asks.push(id);
      }
    }
    const current = holders.get(holder)?.units ?? 0;
    const wanted = Math.max(0, Math.floor(request.units));
    const held = wanted <= current ? wanted : Math.max(current, Math.min(wanted, limit - total));
    const mine = Math.max(0, Math.min(held, Math.floor(request.used)));
    if (held > 0) holders.set(holder, { units: held, used: mine, exact: request.exact, expiresAt: now + ttlMs });
    else holders.delete(holder);
    if (holders.size === 0) this.leases.delete(name);
    return { held, total: total + held, used: used + (held > 0 ? mine : 0), asks };
  }

  async take(name: string, units: number, limit: number, windowMs: number): Promise<{ granted: number; resetInMs: number }> {
    const now = this.now();
    const start = now - (now % windowMs);
    let window = this.windows.get(name);
    if (window === undefined || window.start !== start) this.windows.set(name, (window = { start, taken: 0 }));
    const granted = Math.max(0, Math.min(units, limit - window.taken));
    window.taken += granted;
    return { granted, resetInMs: start + windowMs - now };
  }

  async report(name: string, holder: string, value: number, ttlMs: number, graceMs: number): Promise<number> {
    const now = this.now();
    let holders = this.figures.get(name);
    if (holders === undefined) this.figures.set(name, (holders = new Map()));
    holders.set(holder, { value, at: now });
    let max = 0;
    for (const [id, figure] of holders) {
      const age = now - figure.at;
      if (age > ttlMs) holders.delete(id);
      else max = Math.max(max, figure.value + Math.max(0, age - graceMs));
    }
    return max;
  }
}
