/**
 * redis: hashes for push state (devices, subscriptions, credentials, templates, publish
 * status). Each method is one Redis command, so each is atomic per key across nodes;
 * counters use HINCRBY and claims HSETNX. Keys are `{prefix}h:{key}`.
 */
import type { RedisClient } from './connection.ts';
import { createErrorWith } from '../../errors.ts';
import type { HashStore } from '../ports.ts';

export class RedisHashes implements HashStore {
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
  ) {}

  get(key: string, field: string): Promise<string | null> {
    return this.run(() => this.client.hget(this.key(key), field));
  }

  async set(key: string, field: string, value: string): Promise<void> {
    await this.run(() => this.client.hset(this.key(key), field, value));
  }

  async setMany(key: string, fields: ReadonlyMap<string, string>): Promise<void> {
    if (fields.size === 0) return;
    await this.run(() => this.client.hset(this.key(key), Object.fromEntries(fields)));
  }

  async setIfAbsent(key: string, field: string, value: string): Promise<boolean> {
    return (await this.run(() => this.client.hsetnx(this.key(key), field, value))) === 1;
  }

  async remove(key: string, field: string): Promise<boolean> {
    return (await this.run(() => this.client.hdel(this.key(key), field))) === 1;
  }

  async getAll(key: string): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.run(() => this.client.hgetall(this.key(key)))));
  }

  /** HSCAN: Redis' cursor `0` (start and end) maps to the port's `''`. */
  async scan(key: string, cursor: string, count: number): Promise<{ cursor: string; entries: [string, string][] }> {
    const [next, flat] = await this.run(() => this.client.hscan(this.key(key), cursor === '' ? '0' : cursor, 'COUNT', Math.max(1, count)));
    const entries: [string, string][] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) entries.push([flat[i]!, flat[i + 1]!]);
    return { cursor: next === '0' ? '' : next, entries };
  }

  increment(key: string, field: string, by: number): Promise<number> {
    return this.run(() => this.client.hincrby(this.key(key), field, by));
  }

  async expire(key: string, ttlMs: number): Promise<void> {
    await this.run(() => this.client.pexpire(this.key(key), ttlMs));
  }

  async drop(key: string): Promise<void> {
    await this.run(() => this.client.del(this.key(key)));
  }

  private key(key: string): string {
    return `${this.prefix}h:${key}`;
  }

  private async run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      throw createErrorWith('RC_ERR_BACKEND_UNAVAILABLE', { cause: error }, 'redis', (error as Error).message);
    }
  }
}
