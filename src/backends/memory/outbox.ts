/**
 * memory: the outbox in this process's memory. One process only and nothing survives a
 * restart; use redis so every node shares the announced state and the lanes. Every
 * method runs synchronously inside one call, so each is atomic.
 */
import { randomBytes } from 'node:crypto';
import type { OutboxDrain, OutboxHead, OutboxReconcile, OutboxReconcileResult, OutboxStore, OutboxSubject } from '../ports.ts';
import { parseSubjectKey, subjectKey } from '../outbox-subjects.ts';

/** A lane's items are compacted once this many were acked from its front. */
const COMPACT_AFTER = 1024;

interface Lane {
  items: string[];
  /** Index in `items` of the head (items before it were acked). */
  start: number;
  /** Items acked so far. */
  head: number;
  epoch: number;
  /** The epoch a drain was last asked for. */
  scheduled: number;
  tries: number;
}

/** Reads a subject's actual value: occupancy total, or the user's connections in the stream. */
export type ActualState = (subject: OutboxSubject) => number;

export class MemoryOutbox implements OutboxStore {
  /** Item ids are `{epoch}.{n}`: the epoch is this store's (a process's), so a restarted node never gives an id twice. */
  private readonly idEpoch = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  private seq = 0;
  private readonly lanes = new Map<string, Lane>();
  /** subject key → `1|{absentSince or 0}` (channel, member) or the last recorded count. */
  private readonly states = new Map<string, string>();
  /** scope → subject keys recorded present. */
  private readonly present = new Map<string, Set<string>>();
  /** once key → expiry (ms). */
  private readonly onceKeys = new Map<string, number>();

  constructor(
    private readonly actual: ActualState,
    private readonly now: () => number = Date.now,
  ) {}

  async reconcile(request: OutboxReconcile): Promise<OutboxReconcileResult> {
    const { subject } = request;
    const key = subjectKey(subject);
    const value = this.actual(subject);
    const state = this.states.get(key);
    const now = this.now();
    if (subject.kind === 'count') {
      if (state !== undefined ? Number(state) === value : value === 0) return none();
      if (value === 0) this.states.delete(key);
      else this.states.set(key, String(value));
      return { outcome: 'count', dueInMs: 0, absentSince: 0, drains: this.record(request.up.lanes, request.up.body, value, now) };
    }
    if (value > 0) {
      if (state === undefined) {
        this.states.set(key, '1|0');
        this.indexOf(request.scope).add(key);
        return { outcome: 'up', dueInMs: 0, absentSince: 0, drains: this.record(request.up.lanes, request.up.body, value, now) };
      }
      if (state !== '1|0') this.states.set(key, '1|0');
      return none();
    }
    if (state === undefined) {
      if (request.edge !== 'up') return none();
      // A blip: present when the caller saw it, absent again by now. Announce it, then its end.
      this.states.set(key, `1|${now}`);
      this.indexOf(request.scope).add(key);
      return { outcome: 'up', dueInMs: Math.max(1, request.downDelayMs), absentSince: now, drains: this.record(request.up.lanes, request.up.body, value, now) };
    }
    let since = Number(state.slice(2));
    if (since === 0) {
      since = now;
      this.states.set(key, `1|${now}`);
    }
    const due = since + request.downDelayMs - now;
    if (due > 0) return { outcome: 'pending', dueInMs: due, absentSince: since, drains: [] };
    this.states.delete(key);
    this.present.get(request.scope)?.delete(key);
    return { outcome: 'down', dueInMs: 0, absentSince: 0, drains: this.record(request.down.lanes, request.down.body, value, now) };
  }

  async append(items: readonly { lane: string; item: string }[], once?: { key: string; ttlMs: number }): Promise<OutboxDrain[]> {
    if (once !== undefined) {
      const now = this.now();
      this.forgetExpiredOnceKeys(now);
      const expiry = this.onceKeys.get(once.key);
      if (expiry !== undefined && expiry > now) return [];
      this.onceKeys.set(once.key, now + once.ttlMs);
    }
    const drains = new Map<string, OutboxDrain>();
    for (const { lane, item } of items) {
      const drain = this.push(lane, item);
      if (drain !== null) drains.set(lane, drain);
    }
    return [...drains.values()];
  }

  async peek(lane: string, max: number): Promise<OutboxHead> {
    const state = this.lanes.get(lane);
    if (state === undefined) return { head: 0, items: [], tries: 0 };
    return { head: state.head, items: state.items.slice(state.start, state.start + Math.max(0, max)), tries: state.tries };
  }

  async ack(lane: string, head: number, count: number): Promise<boolean> {
    const state = this.lanes.get(lane);
    if (state === undefined || state.head !== head) return false;
    const removed = Math.min(count, state.items.length - state.start);
    state.start += removed;
    state.head += removed;
    state.tries = 0;
    if (state.start >= COMPACT_AFTER || state.start === state.items.length) {
      state.items = state.items.slice(state.start);
      state.start = 0;
    }
    return true;
  }

  async fail(lane: string, head: number): Promise<number> {
    const state = this.lanes.get(lane);
    if (state === undefined || state.head !== head) return 0;
    return ++state.tries;
  }

  async finish(lane: string, epoch: number): Promise<{ epoch: number; length: number; moved: boolean }> {
    const state = this.laneOf(lane);
    const length = state.items.length - state.start;
    if (state.epoch !== epoch) return { epoch: state.epoch, length, moved: false };
    state.epoch++;
    if (length > 0) state.scheduled = state.epoch;
    return { epoch: state.epoch, length, moved: true };
  }

  async activeLanes(): Promise<Map<string, { epoch: number; length: number }>> {
    const out = new Map<string, { epoch: number; length: number }>();
    for (const [name, state] of this.lanes) {
      const length = state.items.length - state.start;
      if (length > 0) out.set(name, { epoch: state.epoch, length });
    }
    return out;
  }

  async reportedUp(scope: string): Promise<OutboxSubject[]> {
    return [...(this.present.get(scope) ?? [])].map(parseSubjectKey);
  }

  private record(lanes: readonly string[], body: string, value: number, now: number): OutboxDrain[] {
    if (lanes.length === 0) return [];
    const item = outboxItem(`${this.idEpoch}.${++this.seq}`, now, value, body);
    const drains: OutboxDrain[] = [];
    for (const lane of lanes) {
      const drain = this.push(lane, item);
      if (drain !== null) drains.push(drain);
    }
    return drains;
  }

  /** Appends one item; returns the drain to schedule when none was asked for this epoch. */
  private push(lane: string, item: string): OutboxDrain | null {
    const state = this.laneOf(lane);
    state.items.push(item);
    if (state.scheduled === state.epoch) return null;
    state.scheduled = state.epoch;
    return { lane, epoch: state.epoch };
  }

  private laneOf(name: string): Lane {
    let lane = this.lanes.get(name);
    if (lane === undefined) {
      lane = { items: [], start: 0, head: 0, epoch: 1, scheduled: 0, tries: 0 };
      this.lanes.set(name, lane);
    }
    return lane;
  }

  private indexOf(scope: string): Set<string> {
    let set = this.present.get(scope);
    if (set === undefined) {
      set = new Set();
      this.present.set(scope, set);
    }
    return set;
  }

  private forgetExpiredOnceKeys(now: number): void {
    for (const [key, expiry] of this.onceKeys) {
      if (expiry > now) break; // roughly insertion order; stragglers go on a later call
      this.onceKeys.delete(key);
    }
  }
}

/** The item text of a recorded transition (see `OutboxStore`). */
export function outboxItem(id: string, time: number, value: number, body: string): string {
  return `{"id":${JSON.stringify(id)},"t":${time},"n":${value},"b":${body}}`;
}

function none(): OutboxReconcileResult {
  return { outcome: 'none', dueInMs: 0, absentSince: 0, drains: [] };
}
