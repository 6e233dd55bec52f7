/**
 * redis: small values with a TTL (bot sessions, idempotency replies), shared by every
 * node and kept across restarts. Use it with several nodes; the memory store serves one
 * process. TTLs are Redis's own (PX), so expiry needs no sweeper here.
 */
import type { KeyValueStore } from '../ports.ts';
import type { RedisContext } from './connection.ts';
import { guard } from './faults.ts';
import { runScript } from './scripts.ts';

/** Redis rejects PX 0 and fractions: the shortest TTL is 1 ms. */
function px(ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs));
}

export class RedisKeyValue implements KeyValueStore {
  constructor(private readonly context: RedisContext) {}

  get(key: string): Promise<string | null> {
    return guard(this.context.commandTimeoutMs, () => this.context.client.get(this.context.keys.kv(key)));
  }

  set(key: string, value: string, ttlMs: number): Promise<void> {
    return guard(this.context.commandTimeoutMs, async () => {
      await this.context.client.set(this.context.keys.kv(key), value, 'PX', px(ttlMs));
    });
  }

  /** One command: SET … NX GET (Redis ≥ 7.0) stores when absent and returns the existing value otherwise. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<string | null> {
    return guard(this.context.commandTimeoutMs, async () => {
      const existing = await this.context.client.call('SET', this.context.keys.kv(key), value, 'PX', px(ttlMs), 'NX', 'GET');
      return existing === null ? null : String(existing);
    });
  }

  touch(key: string, ttlMs: number): Promise<boolean> {
    return guard(this.context.commandTimeoutMs, async () => (await this.context.client.pexpire(this.context.keys.kv(key), px(ttlMs))) === 1);
  }

  delete(key: string): Promise<void> {
    return guard(this.context.commandTimeoutMs, async () => {
      await this.context.client.del(this.context.keys.kv(key));
    });
  }

  /** One script (kv_write_if_owned.lua): the owner check and the write are one atomic step. */
  writeIfOwned(key: string, value: string | null, ttlMs: number, ownerField: string, owners: readonly string[], createIfAbsent = false): Promise<boolean> {
    return guard(this.context.commandTimeoutMs, async () => {
      const args = [value === null ? 'del' : 'set', value ?? '', px(ttlMs), createIfAbsent ? 1 : 0, ownerField, ...owners];
      return (await runScript(this.context.client, 'kvWriteIfOwned', [this.context.keys.kv(key)], args)) === 1;
    });
  }
}
