/**
 * redis: quotas, rates and load figures shared by every node (one script per atomic
 * operation, `scripts/quota_*.lua`, on Redis's clock so skewed node clocks agree).
 *
 *   {p}quota:{<name>}:held    hash: holder → units leased
 *   {p}quota:{<name>}:exp     sorted set: holder → lease expiry (ms)
 *   {p}quota:{<name>}:used    hash: holder → "<units used>:<1 exact | 0>"
 *   {p}quota:{<name>}:rate    hash: s (window start, ms), n (units taken in it)
 *   {p}quota:{<name>}:load    hash: holder → "<figure>:<reported at ms>"
 *
 * The braces hash-tag each quota's keys into one slot (Redis Cluster).
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { LeaseReply, LeaseRequest, QuotaStore } from '../ports.ts';
import type { RedisContext } from './connection.ts';
import { guard } from './faults.ts';

const COMMANDS = {
  rcQuotaLease: { file: 'quota_lease.lua', keys: 3 },
  rcQuotaTake: { file: 'quota_take.lua', keys: 1 },
  rcQuotaReport: { file: 'quota_report.lua', keys: 1 },
} as const;

type QuotaCommand = keyof typeof COMMANDS;

const SOURCES = new Map<QuotaCommand, string>(
  (Object.keys(COMMANDS) as QuotaCommand[]).map((name) => [name, readFileSync(new URL(`./scripts/${COMMANDS[name].file}`, import.meta.url), 'utf8')]),
);

export class RedisQuotas implements QuotaStore {
  constructor(
    private readonly context: RedisContext,
    private readonly prefix: string,
  ) {
    for (const [name, lua] of SOURCES) context.client.defineCommand(name, { numberOfKeys: COMMANDS[name].keys, lua });
  }

  lease(name: string, holder: string, request: LeaseRequest, limit: number, ttlMs: number): Promise<LeaseReply> {
    return guard(this.context.commandTimeoutMs, async () => {
      const keys = [this.key(name, 'held'), this.key(name, 'exp'), this.key(name, 'used')];
      const args = [holder, request.units, limit, Math.max(1, Math.ceil(ttlMs)), Math.max(0, Math.floor(request.used)), request.exact ? 1 : 0];
      const [held, total, used, asks] = (await this.run('rcQuotaLease', keys, args)) as [number, number, number, string[]];
      return { held, total, used, asks };
    });
  }

  take(name: string, units: number, limit: number, windowMs: number): Promise<{ granted: number; resetInMs: number }> {
    return guard(this.context.commandTimeoutMs, async () => {
      const [granted, resetInMs] = (await this.run('rcQuotaTake', [this.key(name, 'rate')], [units, limit, Math.max(1, Math.ceil(windowMs))])) as [number, number];
      return { granted, resetInMs };
    });
  }

  report(name: string, holder: string, value: number, ttlMs: number, graceMs: number): Promise<number> {
    return guard(this.context.commandTimeoutMs, async () =>
      Number(await this.run('rcQuotaReport', [this.key(name, 'load')], [holder, Math.max(0, Math.round(value)), Math.max(1, Math.ceil(ttlMs)), Math.max(0, Math.ceil(graceMs))])),
    );
  }

  private key(name: string, kind: string): string {
    return `${this.prefix}quota:{${name}}:${kind}`;
  }

  private run(command: QuotaCommand, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    const method = (this.context.client as unknown as Record<QuotaCommand, (...values: (string | number)[]) => Promise<unknown>>)[command];
    return method.call(this.context.client as Redis, ...keys, ...args);
  }
}
