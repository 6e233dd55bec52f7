/** memory: node liveness. One process only, so in practice only this node is ever listed. */
import type { NodeRegistry } from '../ports.ts';

export class MemoryNodes implements NodeRegistry {
  /** registration id → expiry time (ms) */
  private readonly expiries = new Map<string, number>();
  private readonly claimed = new Set<string>();

  constructor(private readonly now: () => number = Date.now) {}

  async heartbeat(nodeId: string, ttlMs: number): Promise<boolean> {
    const present = this.expiries.has(nodeId);
    this.expiries.set(nodeId, this.now() + ttlMs);
    this.claimed.delete(nodeId);
    return present;
  }

  async deadNodes(): Promise<string[]> {
    const now = this.now();
    return [...this.expiries].filter(([id, expiry]) => expiry <= now && !this.claimed.has(id)).map(([id]) => id);
  }

  async claimDead(nodeId: string): Promise<boolean> {
    const expiry = this.expiries.get(nodeId);
    if (expiry === undefined || expiry > this.now() || this.claimed.has(nodeId)) return false;
    this.claimed.add(nodeId);
    this.expiries.delete(nodeId);
    return true;
  }

  async forget(nodeId: string): Promise<void> {
    this.expiries.delete(nodeId);
    this.claimed.delete(nodeId);
  }
}
