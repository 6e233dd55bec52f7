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
 *
 * On a Redis Cluster every script must stay in one slot, so the outbox is kept per shard
 * (a *part*, `{p}{t}:ob:…`, keys.ts): a subject's transitions, and the items appended for
 * the same stream, go to the part of the subject's stream, in the slot that also holds the
 * stream's occupancy, presence and recorded state. A lane then exists once per part, named
 * `{lane}@{shard}` in `drains` and `activeLanes` (and taken back by `peek`, `ack`, `fail`,
 * `finish`): one stream's items stay in one of them, in order; items of streams in
 * different shards may be sent in parallel. Item ids stay unique per deployment: the
 * counter of part s gives `n × shards + s`, and an id is `{epoch}.{that number}`, the epoch
 * being when the counter was made, so a counter made again after Redis lost its data
 * gives ids never given before. `activeLanes` and `reportedUp` visit every
 * part (one call per shard). Without a cluster there is one part, under `{p}ob:`.
 */
import type { OutboxAppendItem, OutboxDrain, OutboxHead, OutboxReconcile, OutboxReconcileResult, OutboxStore, OutboxSubject } from '../ports.ts';
import type { RedisContext } from './connection.ts';
import { owedField } from './owed.ts';
import { guard } from './faults.ts';
import { runScript } from './scripts.ts';
import { parseSubjectKey, subjectKey } from '../outbox-subjects.ts';

/** Members read per SSCAN page when listing a scope's present subjects. */
const SCAN_PAGE = 500;

/** Where a lane's or a subject's keys live: the whole outbox (standalone) or one shard's part (cluster). */
interface Part {
  readonly shard: number | null;
  readonly present: (scope: string) => string;
  readonly ids: string;
  readonly active: string;
  readonly lanePrefix: string;
  readonly metaPrefix: string;
  readonly once: (key: string) => string;
}

/** The append script's reply when its once key was already used. */
const REPEATED = 'repeated';

/** The suffix of a lane kept in one part of a cluster's outbox: `{lane}@{shard}`. */
const PART_MARK = '@';

export class RedisOutbox implements OutboxStore {
  private readonly parts = new Map<number, Part>();
  private readonly whole: Part;

  constructor(private readonly context: RedisContext) {
    const { keys } = context;
    this.whole = {
      shard: null,
      present: keys.outboxPresent,
      ids: keys.outboxIds,
      active: keys.outboxActive,
      lanePrefix: keys.outboxLanePrefix,
      metaPrefix: keys.outboxMetaPrefix,
      once: keys.outboxOnce,
    };
  }

  reconcile(request: OutboxReconcile): Promise<OutboxReconcileResult> {
    const { keys } = this.context;
    const { subject } = request;
    const part = this.partOfStream(subject.stream);
    const lane = (name: string): string => this.laneIn(part, name);
    const actualKey = subject.kind === 'member' ? keys.presenceUsers(subject.stream) : keys.occupancyTotal(subject.stream);
    const actualField = subject.kind === 'member' ? subject.userId : 't';
    const stateField = subject.kind === 'member' ? `u:${subject.userId}` : subject.kind === 'channel' ? 'c' : 'n';
    return guard(this.context.commandTimeoutMs, async () => {
      const reply = (await runScript(
        this.context.client,
        'outboxReconcile',
        [keys.outboxState(subject.stream), actualKey, part.present(request.scope), part.ids, part.active],
        [
          subject.kind,
          actualField,
          stateField,
          subjectKey(subject),
          Math.max(0, Math.round(request.downDelayMs)),
          part.lanePrefix,
          part.metaPrefix,
          request.up.body,
          request.down.body,
          request.up.lanes.length,
          ...request.up.lanes.map(lane),
          request.down.lanes.length,
          ...request.down.lanes.map(lane),
          request.edge ?? '',
          part.shard === null ? 1 : keys.shards,
          part.shard ?? 0,
        ],
      )) as (string | number)[];
      return { outcome: reply[0] as OutboxReconcileResult['outcome'], dueInMs: Number(reply[1]), absentSince: Number(reply[2]), drains: drainsOf(reply, 3) };
    });
  }

  append(items: readonly OutboxAppendItem[], once?: { key: string; ttlMs: number }): Promise<OutboxDrain[]> {
    if (items.length === 0) return Promise.resolve([]);
    // One script per part, in the order the parts first appear (one stream's items share a part).
    const groups = new Map<Part, string[]>();
    for (const { lane, item, stream, settles } of items) {
      const part = this.partOfLane(lane) ?? this.partOfStream(settles?.stream ?? stream ?? lane);
      let args = groups.get(part);
      if (args === undefined) groups.set(part, (args = []));
      // The owed marker's hash shares the slot of the stream's part (keys.ts), so the
      // script that records the item also settles it.
      if (settles === undefined) args.push(this.laneIn(part, lane), item, '', '');
      else args.push(this.laneIn(part, lane), item, this.context.keys.owed(settles.owner, settles.stream), owedField('webhook', settles.seq, settles.stream));
    }
    return guard(this.context.commandTimeoutMs, async () => {
      const drains: OutboxDrain[] = [];
      let first = true;
      for (const [part, quads] of groups) {
        // The once key guards the whole call from its first part (a once append names one stream).
        const onceMs = once === undefined || !first ? 0 : Math.max(1, Math.ceil(once.ttlMs));
        const reply = (await runScript(this.context.client, 'outboxAppend', [part.active, part.once(once?.key ?? '')], [onceMs, part.lanePrefix, part.metaPrefix, ...quads])) as (string | number)[];
        if (reply[0] === REPEATED) return [];
        first = false;
        drains.push(...drainsOf(reply, 0));
      }
      return drains;
    });
  }

  peek(lane: string, max: number): Promise<OutboxHead> {
    const part = this.partOfLane(lane) ?? this.whole;
    return guard(this.context.commandTimeoutMs, async () => {
      const [head, tries, items] = (await runScript(this.context.client, 'outboxPeek', [part.lanePrefix + lane, part.metaPrefix + lane], [Math.max(1, max)])) as [
        number,
        number,
        string[],
      ];
      return { head: Number(head), tries: Number(tries), items };
    });
  }

  ack(lane: string, head: number, count: number): Promise<boolean> {
    const part = this.partOfLane(lane) ?? this.whole;
    return guard(this.context.commandTimeoutMs, async () => {
      const done = await runScript(this.context.client, 'outboxAck', [part.lanePrefix + lane, part.metaPrefix + lane, part.active], [lane, head, count]);
      return done === 1;
    });
  }

  fail(lane: string, head: number): Promise<number> {
    const part = this.partOfLane(lane) ?? this.whole;
    return guard(this.context.commandTimeoutMs, async () => Number(await runScript(this.context.client, 'outboxFail', [part.metaPrefix + lane], [head])));
  }

  finish(lane: string, epoch: number): Promise<{ epoch: number; length: number; moved: boolean }> {
    const part = this.partOfLane(lane) ?? this.whole;
    return guard(this.context.commandTimeoutMs, async () => {
      const [next, length, moved] = (await runScript(this.context.client, 'outboxFinish', [part.metaPrefix + lane, part.lanePrefix + lane], [epoch])) as number[];
      return { epoch: Number(next), length: Number(length), moved: moved === 1 };
    });
  }

  activeLanes(): Promise<Map<string, { epoch: number; length: number }>> {
    return guard(this.context.commandTimeoutMs, async () => {
      const replies = await Promise.all(
        this.allParts().map((part) => runScript(this.context.client, 'outboxActive', [part.active], [part.lanePrefix, part.metaPrefix]) as Promise<(string | number)[]>),
      );
      const out = new Map<string, { epoch: number; length: number }>();
      for (const flat of replies) {
        for (let i = 0; i + 2 < flat.length; i += 3) out.set(String(flat[i]), { epoch: Number(flat[i + 1]), length: Number(flat[i + 2]) });
      }
      return out;
    });
  }

  reportedUp(scope: string): Promise<OutboxSubject[]> {
    return guard(this.context.commandTimeoutMs, async () => {
      const seen = new Set<string>();
      await Promise.all(
        this.allParts().map(async (part) => {
          const key = part.present(scope);
          let cursor = '0';
          do {
            const [next, members] = await this.context.client.sscan(key, cursor, 'COUNT', SCAN_PAGE);
            for (const member of members) seen.add(member);
            cursor = next;
          } while (cursor !== '0');
        }),
      );
      return [...seen].map(parseSubjectKey);
    });
  }

  private partOfStream(stream: string): Part {
    return this.context.cluster ? this.part(this.context.keys.shardOf(stream)) : this.whole;
  }

  /** The part a lane named `{lane}@{shard}` lives in (a cluster only), else undefined. */
  private partOfLane(lane: string): Part | undefined {
    if (!this.context.cluster) return undefined;
    const at = lane.lastIndexOf(PART_MARK);
    const shard = at < 0 ? Number.NaN : Number(lane.slice(at + 1));
    return Number.isInteger(shard) && shard >= 0 && shard < this.context.keys.shards ? this.part(shard) : undefined;
  }

  /** The lane's name in `part`: itself without parts, else `{lane}@{shard}` (unless it already names its part). */
  private laneIn(part: Part, lane: string): string {
    if (part.shard === null || this.partOfLane(lane) !== undefined) return lane;
    return `${lane}${PART_MARK}${part.shard}`;
  }

  private allParts(): Part[] {
    if (!this.context.cluster) return [this.whole];
    return Array.from({ length: this.context.keys.shards }, (_, shard) => this.part(shard));
  }

  private part(shard: number): Part {
    let part = this.parts.get(shard);
    if (part === undefined) {
      const prefix = this.context.keys.outboxPart(shard);
      part = {
        shard,
        present: (scope) => `${prefix}up:${scope}`,
        ids: `${prefix}ids`,
        active: `${prefix}active`,
        lanePrefix: `${prefix}lane:`,
        metaPrefix: `${prefix}meta:`,
        once: (key) => `${prefix}once:${key}`,
      };
      this.parts.set(shard, part);
    }
    return part;
  }
}

function drainsOf(reply: readonly (string | number)[], from: number): OutboxDrain[] {
  const drains: OutboxDrain[] = [];
  for (let i = from; i + 1 < reply.length; i += 2) drains.push({ lane: String(reply[i]), epoch: Number(reply[i + 1]) });
  return drains;
}
