/** memory: subscription counts per channel. One process only; use redis to count across nodes. */
import type { OccupancyStore } from '../ports.ts';

export class MemoryOccupancy implements OccupancyStore {
  /** channel → nodeId → count */
  private readonly counts = new Map<string, Map<string, number>>();

  async adjust(channel: string, nodeId: string, delta: number): Promise<number> {
    let perNode = this.counts.get(channel);
    if (perNode === undefined) {
      perNode = new Map();
      this.counts.set(channel, perNode);
    }
    const next = (perNode.get(nodeId) ?? 0) + delta;
    if (next > 0) perNode.set(nodeId, next);
    else perNode.delete(nodeId);
    if (perNode.size === 0) this.counts.delete(channel);
    return this.total(channel);
  }

  async count(channel: string): Promise<number> {
    return this.total(channel);
  }

  async list(prefix: string): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const channel of this.counts.keys()) {
      if (!channel.startsWith(prefix)) continue;
      const total = this.total(channel);
      if (total > 0) out.set(channel, total);
    }
    return out;
  }

  async removeNode(nodeId: string): Promise<string[]> {
    const changed: string[] = [];
    for (const [channel, perNode] of [...this.counts]) {
      if (perNode.delete(nodeId)) changed.push(channel);
      if (perNode.size === 0) this.counts.delete(channel);
    }
    return changed;
  }

  /** The channel's total, read synchronously (the memory outbox reads it inside its own atomic step). */
  totalNow(channel: string): number {
    return this.total(channel);
  }

  private total(channel: string): number {
    let sum = 0;
    for (const value of this.counts.get(channel)?.values() ?? []) sum += value;
    return sum;
  }
}
