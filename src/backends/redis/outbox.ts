/**
 * redis: the outbox shared by every node: the state each subject was last announced in,
 * and the ordered lanes of items waiting to be sent. Use it with several nodes (and to
 * keep undelivered webhooks across restarts); the memory outbox serves one process.
 *
 * `reconcile` is one Lua script that reads the subject's actual state (the channel's
 * occupancy total, or the presence channel's users hash) and the announced state, and records
 * the transition into the lanes, all atomically: a transition is recorded once whichever
 * nodes call it. Lane operations are scripts too, guarded by the lane's head and epoch
 * (see lib/outbox-lane.lua), so a drain that runs twice never removes items it did not send.
 */
import type { OutboxDrain, OutboxHead, OutboxReconcile, OutboxReconcileResult, OutboxStore, OutboxSubject } from '../ports.ts';
import type { RedisContext } from './connection.ts';
import { guard } from './faults.ts';
import { runScript } from './scripts.ts';
import { parseSubjectKey, subjectKey } from '../outbox-subjects.ts';

/** Members read per SSCAN page when listing a scope's present subjects. */
const SCAN_PAGE = 500;

export class RedisOutbox implements OutboxStore {
  constructor(private readonly context: RedisContext) {}

  reconcile(request: OutboxReconcile): Promise<OutboxReconcileResult> {
    const { keys } = this.context;
    const { subject } = request;
    const actualKey = subject.kind === 'member' ? keys.presenceUsers(subject.stream) : keys.occupancyTotal(subject.stream);
    const actualField = subject.kind === 'member' ? subject.userId : 't';
    const stateField = subject.kind === 'member' ? `u:${subject.userId}` : subject.kind === 'channel' ? 'c' : 'n';
    return guard(this.context.commandTimeoutMs, async () => {
      const reply = (await runScript(
        this.context.client,
        'outboxReconcile',
        [keys.outboxState(subject.stream), actualKey, keys.outboxPresent(request.scope), keys.outboxSeq, keys.outboxActive],
        [
          subject.kind,
          actualField,
          stateField,
          subjectKey(subject),
          Math.max(0, Math.round(request.downDelayMs)),
          keys.outboxLanePrefix,
          keys.outboxMetaPrefix,
          request.up.body,
          request.down.body,
          request.up.lanes.length,
          ...request.up.lanes,
          request.down.lanes.length,
          ...request.down.lanes,
          request.edge ?? '',
        ],
      )) as (string | number)[];
      return { outcome: reply[0] as OutboxReconcileResult['outcome'], dueInMs: Number(reply[1]), absentSince: Number(reply[2]), drains: drainsOf(reply, 3) };
    });
  }

  append(items: readonly { lane: string; item: string }[], once?: { key: string; ttlMs: number }): Promise<OutboxDrain[]> {
    if (items.length === 0) return Promise.resolve([]);
    const { keys } = this.context;
    const args: (string | number)[] = [once === undefined ? 0 : Math.max(1, Math.ceil(once.ttlMs)), keys.outboxLanePrefix, keys.outboxMetaPrefix];
    for (const { lane, item } of items) args.push(lane, item);
    return guard(this.context.commandTimeoutMs, async () => {
      const reply = (await runScript(this.context.client, 'outboxAppend', [keys.outboxActive, keys.outboxOnce(once?.key ?? '')], args)) as (string | number)[];
      return drainsOf(reply, 0);
    });
  }

  peek(lane: string, max: number): Promise<OutboxHead> {
    const { keys } = this.context;
    return guard(this.context.commandTimeoutMs, async () => {
      const [head, tries, items] = (await runScript(this.context.client, 'outboxPeek', [keys.outboxLane(lane), keys.outboxMeta(lane)], [Math.max(1, max)])) as [
        number,
        number,
        string[],
      ];
      return { head: Number(head), tries: Number(tries), items };
    });
  }

  ack(lane: string, head: number, count: number): Promise<boolean> {
    const { keys } = this.context;
    return guard(this.context.commandTimeoutMs, async () => {
      const done = await runScript(this.context.client, 'outboxAck', [keys.outboxLane(lane), keys.outboxMeta(lane), keys.outboxActive], [lane, head, count]);
      return done === 1;
    });
  }

  fail(lane: string, head: number): Promise<number> {
    return guard(this.context.commandTimeoutMs, async () => Number(await runScript(this.context.client, 'outboxFail', [this.context.keys.outboxMeta(lane)], [head])));
  }

  finish(lane: string, epoch: number): Promise<{ epoch: number; length: number; moved: boolean }> {
    const { keys } = this.context;
    return guard(this.context.commandTimeoutMs, async () => {
      const [next, length, moved] = (await runScript(this.context.client, 'outboxFinish', [keys.outboxMeta(lane), keys.outboxLane(lane)], [epoch])) as number[];
      return { epoch: Number(next), length: Number(length), moved: moved === 1 };
    });
  }

  activeLanes(): Promise<Map<string, { epoch: number; length: number }>> {
    const { keys } = this.context;
    return guard(this.context.commandTimeoutMs, async () => {
      const flat = (await runScript(this.context.client, 'outboxActive', [keys.outboxActive], [keys.outboxLanePrefix, keys.outboxMetaPrefix])) as (string | number)[];
      const out = new Map<string, { epoch: number; length: number }>();
      for (let i = 0; i + 2 < flat.length; i += 3) out.set(String(flat[i]), { epoch: Number(flat[i + 1]), length: Number(flat[i + 2]) });
      return out;
    });
  }

  reportedUp(scope: string): Promise<OutboxSubject[]> {
    const key = this.context.keys.outboxPresent(scope);
    return guard(this.context.commandTimeoutMs, async () => {
      const seen = new Set<string>();
      let cursor = '0';
      do {
        const [next, members] = await this.context.client.sscan(key, cursor, 'COUNT', SCAN_PAGE);
        for (const member of members) seen.add(member);
        cursor = next;
      } while (cursor !== '0');
      return [...seen].map(parseSubjectKey);
    });
  }
}

function drainsOf(reply: readonly (string | number)[], from: number): OutboxDrain[] {
  const drains: OutboxDrain[] = [];
  for (let i = from; i + 1 < reply.length; i += 2) drains.push({ lane: String(reply[i]), epoch: Number(reply[i + 1]) });
  return drains;
}
