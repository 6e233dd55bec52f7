/**
 * Publish status: a base state written by admission and the expander, plus counters
 * the device jobs increment atomically (so several workers on several nodes never lose
 * a count). The visible state is derived from both when read.
 *
 * Counters: planned (devices found), sent (provider requests made, retries included),
 * succeeded, failed (gone, rejected or dead-lettered), retrying (waiting for a retry
 * now), expired (not sent before expires_at), cancelled. A device ends in exactly one
 * of succeeded / failed / expired / cancelled. `cancelled` stays 0 in practice: only a
 * publish whose expand job has not started can be cancelled, so it never has planned
 * devices; it is kept so every status has the same shape (docs/push.md says so).
 *
 * Receipts: delivery callbacks (`POST …/push/deliveryStatus`) from providers or the app,
 * counted per outcome, at most one per planned device.
 */
import type { HashStore } from '../backends/ports.ts';
import { createError } from '../errors.ts';
import { pushKeys } from './keys.ts';

export type BaseState = 'scheduled' | 'queued' | 'expanding' | 'expanded' | 'cancelled' | 'expired';

export type PublishState = 'scheduled' | 'queued' | 'delivering' | 'succeeded' | 'partial' | 'failed' | 'expired' | 'cancelled';

export const COUNTERS = ['planned', 'sent', 'succeeded', 'failed', 'retrying', 'expired', 'cancelled'] as const;
export type Counter = (typeof COUNTERS)[number];

export const RECEIPTS = ['delivered', 'failed', 'gone'] as const;
export type Receipt = (typeof RECEIPTS)[number];

export function isReceipt(value: unknown): value is Receipt {
  return typeof value === 'string' && (RECEIPTS as readonly string[]).includes(value);
}

export interface PublishStatus {
  readonly publish_id: string;
  readonly state: PublishState;
  readonly counters: Readonly<Record<Counter, number>>;
  readonly not_before: string | null;
  readonly expires_at: string | null;
  readonly created_at: string;
  /** Failure reasons → how many devices failed for it (e.g. `apns: BadDeviceToken`). */
  readonly failure_reasons: Readonly<Record<string, number>>;
  /** Delivery callbacks received, by status: each planned device's first callback counts. */
  readonly receipts: Readonly<Record<Receipt, number>>;
}

/** How long a claimed, not yet initialised status lives (see `claim`), in milliseconds. */
export const CLAIM_TTL_MS = 60_000;

const TERMINAL: ReadonlySet<PublishState> = new Set(['succeeded', 'partial', 'failed', 'expired', 'cancelled']);

export function isTerminal(state: PublishState): boolean {
  return TERMINAL.has(state);
}

export class StatusStore {
  constructor(
    private readonly hashes: HashStore,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Claims the publish id: false when its status already exists (another node, or a
   * replay, won). The `created` field is claimed atomically, so exactly one caller
   * proceeds; it must `initialise` the status, or `release` it if admission fails.
   */
  async claim(appId: string, publishId: string): Promise<boolean> {
    const key = pushKeys.status(appId, publishId);
    if (!(await this.hashes.setIfAbsent(key, 'created', String(this.now())))) return false;
    // Until `initialise` gives it the status retention, a claim lives CLAIM_TTL_MS: one left
    // by an admission whose release failed too (the backend was failing) frees itself.
    await this.hashes.expire(key, CLAIM_TTL_MS);
    return true;
  }

  /** Writes a claimed status's state and times, with its retention. */
  async initialise(appId: string, publishId: string, base: BaseState, notBefore: number, expiresAt: number): Promise<void> {
    const key = pushKeys.status(appId, publishId);
    await this.hashes.setMany(key, new Map([['base', base], ['not_before', String(notBefore)], ['expires_at', String(expiresAt)]]));
    await this.hashes.expire(key, this.ttlMs);
  }

  /** Forgets a claimed status whose admission failed, so the same id can be admitted again. */
  async release(appId: string, publishId: string): Promise<void> {
    await this.hashes.drop(pushKeys.status(appId, publishId));
  }

  async setBase(appId: string, publishId: string, base: BaseState): Promise<void> {
    await this.hashes.set(pushKeys.status(appId, publishId), 'base', base);
  }

  async setPlanned(appId: string, publishId: string, planned: number): Promise<void> {
    await this.hashes.setMany(pushKeys.status(appId, publishId), new Map([['planned', String(planned)], ['base', 'expanded']]));
  }

  /**
   * Records devices the publish is sent to (before their jobs are enqueued, so a callback
   * for a device can never arrive before its record). Idempotent: an expand job that runs
   * again writes the same fields.
   */
  async recordPlanned(appId: string, publishId: string, deviceIds: readonly string[]): Promise<void> {
    if (deviceIds.length === 0) return;
    const key = pushKeys.planned(appId, publishId);
    await this.hashes.setMany(key, new Map(deviceIds.map((id) => [id, '1'])));
    await this.hashes.expire(key, this.ttlMs);
  }

  async isPlanned(appId: string, publishId: string, deviceId: string): Promise<boolean> {
    return (await this.hashes.get(pushKeys.planned(appId, publishId), deviceId)) !== null;
  }

  /**
   * Counts a device's delivery callback; false (nothing counted) when the device already
   * has one. The per-device claim (HSETNX) keeps a provider's or app's repeated callback,
   * and two nodes receiving the same one at once, from counting twice. A node dying
   * between the claim and the counts loses that one count, never doubles it.
   */
  async recordReceipt(appId: string, publishId: string, deviceId: string, receipt: Receipt, reason: string): Promise<boolean> {
    const claims = pushKeys.receipts(appId, publishId);
    if (!(await this.hashes.setIfAbsent(claims, deviceId, receipt))) return false;
    await this.hashes.expire(claims, this.ttlMs);
    const key = pushKeys.status(appId, publishId);
    await this.hashes.increment(key, `receipt:${receipt}`, 1);
    if (receipt !== 'delivered') await this.hashes.increment(key, `reason:callback: ${reason.slice(0, 200)}`, 1);
    return true;
  }

  async count(appId: string, publishId: string, counter: Counter, by = 1): Promise<void> {
    await this.hashes.increment(pushKeys.status(appId, publishId), counter, by);
  }

  async countFailure(appId: string, publishId: string, reason: string): Promise<void> {
    const key = pushKeys.status(appId, publishId);
    await this.hashes.increment(key, 'failed', 1);
    await this.hashes.increment(key, `reason:${reason.slice(0, 200)}`, 1);
  }

  async base(appId: string, publishId: string): Promise<BaseState | null> {
    return (await this.hashes.get(pushKeys.status(appId, publishId), 'base')) as BaseState | null;
  }

  /** The status as the API shows it, or `RC_ERR_PUSH_PUBLISH_NOT_FOUND`. */
  async read(appId: string, publishId: string): Promise<PublishStatus> {
    const fields = await this.hashes.getAll(pushKeys.status(appId, publishId));
    const created = fields.get('created');
    if (created === undefined) throw createError('RC_ERR_PUSH_PUBLISH_NOT_FOUND', JSON.stringify(publishId));
    const counters = Object.fromEntries(COUNTERS.map((name) => [name, Number(fields.get(name) ?? 0)])) as Record<Counter, number>;
    const reasons = new Map<string, number>();
    for (const [name, value] of fields) if (name.startsWith('reason:')) reasons.set(name.slice(7), Number(value));
    const notBefore = Number(fields.get('not_before') ?? 0);
    const expiresAt = Number(fields.get('expires_at') ?? 0);
    return {
      publish_id: publishId,
      state: deriveState((fields.get('base') ?? 'queued') as BaseState, counters, notBefore, this.now()),
      counters,
      not_before: notBefore > 0 ? new Date(notBefore).toISOString() : null,
      expires_at: expiresAt > 0 ? new Date(expiresAt).toISOString() : null,
      created_at: new Date(Number(created)).toISOString(),
      failure_reasons: Object.fromEntries(reasons),
      receipts: Object.fromEntries(RECEIPTS.map((name) => [name, Number(fields.get(`receipt:${name}`) ?? 0)])) as Record<Receipt, number>,
    };
  }
}

function deriveState(base: BaseState, c: Readonly<Record<Counter, number>>, notBefore: number, now: number): PublishState {
  switch (base) {
    case 'cancelled':
    case 'expired':
      return base;
    case 'scheduled':
      return notBefore > now ? 'scheduled' : 'queued';
    case 'queued':
      return 'queued';
    case 'expanding':
      return 'delivering';
    case 'expanded': {
      const done = c.succeeded + c.failed + c.expired + c.cancelled;
      if (done < c.planned) return 'delivering';
      if (c.succeeded === c.planned) return 'succeeded';
      if (c.succeeded > 0) return 'partial';
      if (c.expired === c.planned) return 'expired';
      if (c.cancelled === c.planned) return 'cancelled';
      return 'failed';
    }
  }
}
