/**
 * redis: node liveness shared by every node. Use it with several nodes; the memory
 * registry only ever sees its own process.
 *
 * One sorted set registration id → heartbeat expiry, in milliseconds of Redis's clock (scripts
 * read TIME), so nodes with skewed clocks agree on who is dead. Claiming a dead node
 * removes it from the set in the same script that checks its expiry: exactly one
 * claimer wins.
 */
import type { NodeRegistry } from '../ports.ts';
import type { RedisContext } from './connection.ts';
import { guard } from './faults.ts';
import { runScript } from './scripts.ts';

export class RedisNodes implements NodeRegistry {
  constructor(private readonly context: RedisContext) {}

  heartbeat(nodeId: string, ttlMs: number): Promise<boolean> {
    return guard(
      this.context.commandTimeoutMs,
      async () => (await runScript(this.context.client, 'nodesHeartbeat', [this.context.keys.nodeExpiry], [nodeId, Math.max(1, Math.ceil(ttlMs))])) === 1,
    );
  }

  deadNodes(): Promise<string[]> {
    return guard(this.context.commandTimeoutMs, async () => (await runScript(this.context.client, 'nodesDead', [this.context.keys.nodeExpiry], [])) as string[]);
  }

  claimDead(nodeId: string): Promise<boolean> {
    return guard(this.context.commandTimeoutMs, async () => (await runScript(this.context.client, 'nodesClaim', [this.context.keys.nodeExpiry], [nodeId])) === 1);
  }

  forget(nodeId: string): Promise<void> {
    return guard(this.context.commandTimeoutMs, async () => {
      await this.context.client.zrem(this.context.keys.nodeExpiry, nodeId);
    });
  }
}
