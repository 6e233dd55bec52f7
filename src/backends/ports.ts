/**
 * Backend ports: the small interfaces the core needs from storage and cross-node
 * messaging, one per concern. Storage code knows no protocol: keys and bodies are
 * opaque strings built by the core. Two implementations exist: `memory/` (one process)
 * and `redis/` (durable, shared by several nodes); one contract suite
 * (`test/contract/backend.contract.ts`) holds both to the guarantees written here.
 *
 * Errors: every method rejects with `RC_ERR_BACKEND_UNAVAILABLE` or
 * `RC_ERR_BACKEND_TIMEOUT` when the store cannot be reached; it never hangs for
 * longer than the configured command timeout.
 */

/** A message every node receives: a log append, or a core signal (presence change, terminate, …). */
export type BusMessage =
  | {
      readonly kind: 'append';
      /** The stream (channel key) the entry was appended to. */
      readonly stream: string;
      readonly entry: LogEntry;
    }
  | {
      readonly kind: 'signal';
      /** Opaque to the backend; the core encodes and decodes it. */
      readonly body: string;
    }
  /**
   * The bus stopped delivering to this node (its subscription dropped): messages sent from
   * now until `resumed` are not delivered here. Sent once per outage.
   */
  | { readonly kind: 'lost' }
  /**
   * The bus delivers again after `lost` (re-subscribed). Appends sent meanwhile were not
   * delivered: the core reads them from the log (see core/bus-inbound.ts).
   */
  | { readonly kind: 'resumed' };

/** Called by the backend for every bus message, on every node, the sender's included. */
export type BusHandler = (message: BusMessage) => void;

/**
 * Cross-node broadcast.
 *
 * Guarantees: every live node's handler sees each message once; appends to one stream
 * arrive in serial order on every node; signals from one node arrive in the order sent.
 * Nothing is promised about the order of messages of different streams, or of a signal
 * relative to an append (one Redis carries them in publish order; a Redis Cluster does
 * not). Delivery is at-most-once: a node that is disconnected from the store misses
 * messages sent meanwhile, and is told so (`lost`, then `resumed` once delivering again),
 * so the core can read the missed appends from the log.
 *
 * A bus that also implements `InterestBus` may be configured to deliver a stream's
 * appends only to the nodes that watch it; signals always reach every node.
 */
export interface Bus {
  /** Registers the single inward handler. The core calls this once at start (before `start`). */
  setHandler(handler: BusHandler): void;
  /** Broadcasts a signal to every node, this one included. */
  signal(body: string): Promise<void>;
  /**
   * False while this node knows it misses bus messages (its subscription is down, between
   * `lost` and `resumed`, or not made yet). Absent: the bus always delivers (memory).
   */
  isSubscribed?(): boolean;
}

/** A hold on every stream's appends (`InterestBus.watchAll`). */
export interface BusInterestHold {
  /** Resolves once every stream's appends reach this node (never rejects; see `watch`). */
  readonly ready: Promise<void>;
  /** Gives the hold up; idempotent. */
  release(): void;
}

/**
 * Optional capability of a bus: interest-based routing. Watches are counted per stream
 * on this node; the node receives the appends of every stream watched at least once (and
 * of all streams while a `watchAll` hold is kept).
 *
 * Guarantees: once `watch(stream)` resolved, and until the matching `unwatch`, every
 * append of the stream reaches this node's handler in seq order (at-most-once, as any bus
 * message). Appends made before it resolved may be missed: a watcher that needs them
 * reads history. The handler may also see appends of streams nobody here watches (a bus
 * may route by groups of streams, and a hold ends asynchronously) and must ignore those it
 * has no use for. A bus routing by broadcast
 * delivers everything and its watches resolve at once.
 */
export interface InterestBus extends Bus {
  /** Counts one interest in `stream`; resolves once its appends reach this node (or after the command timeout, the subscription still following when the store is back). */
  watch(stream: string): Promise<void>;
  /** Drops one interest counted by `watch`; the last one stops delivery (asynchronously). */
  unwatch(stream: string): void;
  /** Holds interest in every stream until released (node-wide consumers of channels nobody here subscribes to: Bayeux wildcards). */
  watchAll(): BusInterestHold;
}

/** True when the bus offers interest-based routing. */
export function hasInterest(bus: Bus): bus is InterestBus {
  return typeof (bus as Partial<InterestBus>).watch === 'function';
}

/**
 * One stored message of a stream. `seq` is its position: 1, 2, 3, … per stream epoch.
 *
 * Stream epochs: a stream's `epoch` is an id the store draws, atomically with the step
 * that creates the stream's seq counter (its first append, or the first after the
 * counter was lost: a Redis that restarted without persistence or was flushed, a
 * memory backend in a new process). So whenever seqs could start again at 1, the epoch
 * is new, and `(epoch, seq)` names one entry for ever. Epochs are short strings of
 * `[0-9a-z]` (8 characters; `00000000` for a Redis stream whose counter predates
 * epochs); they are unordered: only equality means anything.
 */
export interface LogEntry {
  /** The stream's epoch when the entry was stored. */
  readonly epoch: string;
  readonly seq: number;
  /** Milliseconds since the epoch, taken by the store (one clock for all nodes on Redis). */
  readonly time: number;
  /** Opaque body written by the core. */
  readonly body: string;
}

export interface RetentionPolicy {
  /** Keep at most this many entries; 0 keeps none (but `seq` still advances). */
  readonly maxCount: number;
  /** Drop entries older than this, in milliseconds; 0 means no age limit. */
  readonly maxAgeMs: number;
}

export interface LogRange {
  /** Lowest seq to include (inclusive). Default 1. */
  readonly fromSeq?: number;
  /** Highest seq to include (inclusive). Default: the newest. */
  readonly toSeq?: number;
  /** Read newest first (descending seq) instead of oldest first. */
  readonly newestFirst: boolean;
  /** At most this many entries (≥ 1). */
  readonly limit: number;
}

export interface StreamState {
  /** The stream's current epoch; null when it has no seq counter (never appended, or the counter is gone). */
  readonly epoch: string | null;
  /** The last seq assigned in the epoch (0 when nothing was ever appended). */
  readonly lastSeq: number;
  /** Oldest retained seq, or 0 when none is retained. */
  readonly firstRetainedSeq: number;
  readonly retainedCount: number;
  readonly retainedBytes: number;
}

/**
 * Per-stream ordered log: serial assignment, history and broadcast in one step.
 *
 * Guarantees: `append` is atomic per stream: the seq is the previous one plus one, the
 * entry is stored (subject to retention), and it is broadcast as an `append` bus
 * message, so every node sees a stream's entries in seq order with no gaps unless it
 * was disconnected. Retention is applied on append. Entries read or broadcast carry the
 * stream's epoch; a reader holding a position compares epochs before seqs, because a
 * seq of another epoch names an unrelated entry.
 */
export interface MessageLog {
  /** Appends `body` to `stream` and broadcasts it. */
  append(stream: string, body: string, retention: RetentionPolicy): Promise<LogEntry>;
  /**
   * Appends several bodies to several streams in order (one round trip where possible).
   * An item with `owed` also records, in its own atomic append step, the side effects it
   * owes (see `OwedEffectLedger`); a backend without a ledger ignores `owed`.
   */
  appendMany(items: readonly { stream: string; body: string; retention: RetentionPolicy; owed?: OwedEffects }[]): Promise<LogEntry[]>;
  /** Reads retained entries of a stream in the range. */
  read(stream: string, range: LogRange): Promise<LogEntry[]>;
  /** Reads one retained entry, or null when it was never written or is no longer retained. */
  get(stream: string, seq: number): Promise<LogEntry | null>;
  state(stream: string): Promise<StreamState>;
  /** Drops retained entries (seq keeps counting, the epoch stays). */
  purge(stream: string): Promise<void>;
  /**
   * Drops every entry and the seq counter in one atomic step: the stream starts over, and
   * its next append starts a new epoch at seq 1 (state's epoch is null until then).
   */
  reset(stream: string): Promise<void>;
  /**
   * Drops, in one atomic step, the retained entries older than a bound: those whose seq
   * is below `before.seq`, or whose time is below `before.timeMs` (entry times never
   * decrease with seq, so either bound drops a prefix). Entries at or past the bound
   * stay; the seq keeps counting. Returns how many entries were dropped (0 when none).
   * A seq bound may name its epoch: when the stream is in another epoch (or has no
   * counter), nothing is dropped and the result is -1, checked in the same atomic step.
   */
  dropBefore(stream: string, before: LogBound): Promise<number>;
}

/**
 * A side effect a stored message owes once it is acknowledged: the admission of its
 * `extras.push` (`push`), the recording of its message webhook event (`webhook`).
 */
export type EffectKind = 'push' | 'webhook';

/** The side effects an append owes, and who owes them. */
export interface OwedEffects {
  /** The registration (process incarnation, core/membership.ts) that appends and owes them. */
  readonly owner: string;
  readonly kinds: readonly EffectKind[];
}

/** One side effect still owed: its kind and the entry that owes it. */
export interface OwedEntry {
  readonly kind: EffectKind;
  readonly stream: string;
  readonly entry: LogEntry;
}

/**
 * Optional capability: the side effects owed by appended messages, a transactional
 * outbox for the push admission and the webhook recording that follow a publish.
 *
 * Guarantees:
 * - An append with `owed` (MessageLog.appendMany) stores one marker per kind in the same
 *   atomic step as the entry, holding the entry itself (epoch, seq, time, body): an
 *   acknowledged append has its markers until they are settled, whatever the stream's
 *   retention keeps of the entry.
 * - A marker is removed only by settling it: `settle` here, or an outbox append of an item
 *   that names it (`OutboxAppendItem.settles`), which records the item only when the marker
 *   was still there, in the same atomic step. So a marker settled once is never settled
 *   again, and its webhook items are recorded at most once whoever settles it.
 * - `owedBy` lists every marker an owner left (across all shards), for whoever takes over
 *   a dead owner's duties (its reaper, core/owed-effects.ts).
 * - Markers carry no TTL: a marker lives until settled.
 */
export interface OwedEffectLedger {
  /** Removes an owed marker; true when it was still owed (this call settled it). */
  settle(owner: string, kind: EffectKind, stream: string, seq: number): Promise<boolean>;
  /** Every marker `owner` left, in no particular order. */
  owedBy(owner: string): Promise<OwedEntry[]>;
}

/** A bound for `MessageLog.dropBefore`: a seq, or a time in milliseconds since the epoch. */
export type LogBound = { readonly seq: number; readonly epoch?: string } | { readonly timeMs: number };

/** One connection's membership in a presence channel. */
export interface PresenceEntry {
  readonly connectionId: string;
  readonly nodeId: string;
  readonly userId: string;
  /** Opaque JSON text of the user's info. */
  readonly userInfo: string;
}

export interface PresenceMember {
  readonly userId: string;
  readonly userInfo: string;
  /** The presence version of the user's first join (see PresenceStore); 0 when the store does not know it. */
  readonly version: number;
}

/** A user whose last connection in a channel was removed, with the version of that leave. */
export interface PresenceDeparture {
  readonly channel: string;
  readonly userId: string;
  readonly version: number;
}

/**
 * Presence membership: connections per channel, grouped by user.
 *
 * Guarantees: `join` and `leave` are atomic per channel; `firstForUser` is true for
 * exactly one of concurrent joins of a user, and `lastForUser` for exactly one of the
 * leaves that empty it, across nodes. Entries of a node whose heartbeat expired are
 * removed by `removeNode` (the core calls it when it sees the node dead).
 *
 * Versions: each change of a user's presence in a channel (first join, last leave) takes
 * a version from the channel's clock in the same atomic step, greater than every version
 * the channel issued before, also after the channel emptied and (Redis) after the store
 * lost its data, as long as the store's clock does not go back. So the order of two
 * changes of one user is known from their versions wherever they are announced, whatever
 * order the announcements arrive in. Versions are positive integers below 2^53.
 */
export interface PresenceStore {
  /** Records a connection; `version` is the user's presence version (this join's when first, 0 when unknown). */
  join(channel: string, entry: PresenceEntry): Promise<{ firstForUser: boolean; version: number }>;
  /**
   * Joins unless the channel already has `maxUsers` distinct users and `entry.userId` is
   * not one of them: then nothing changes and the result is `null`. The check and the
   * join are one atomic step per channel, so concurrent joins on any nodes never take
   * the channel past `maxUsers` (0: no bound). Entries of a dead node count until
   * `removeNode` drops them.
   */
  join(channel: string, entry: PresenceEntry, maxUsers: number): Promise<{ firstForUser: boolean; version: number } | null>;
  /**
   * `join(channel, entry, maxUsers)` that also returns the channel's members (as
   * `members`, the joiner included) read in the same atomic step: one round trip where
   * join then members takes two.
   */
  joinListing(channel: string, entry: PresenceEntry, maxUsers: number): Promise<{ firstForUser: boolean; version: number; members: PresenceMember[] } | null>;
  /** Removes a connection; `null` when it was not a member; `version` is the leave's when last (else 0). */
  leave(channel: string, connectionId: string): Promise<{ userId: string; lastForUser: boolean; version: number } | null>;
  /** Distinct users of the channel (the info of their most recent connection), with their presence versions. */
  members(channel: string): Promise<PresenceMember[]>;
  /** Number of distinct users. */
  userCount(channel: string): Promise<number>;
  /** Removes every entry of `nodeId`; returns the users who left as a result, per channel, with their leaves' versions. */
  removeNode(nodeId: string): Promise<PresenceDeparture[]>;
}

/**
 * Subscription counts per channel, per node, so any node can answer channel state.
 *
 * Guarantees: counts of dead nodes are dropped by `removeNode`; `list` returns only
 * channels with a positive total.
 */
export interface OccupancyStore {
  /** Adds `delta` (±1) to this node's count for the channel. Returns the new total across nodes. */
  adjust(channel: string, nodeId: string, delta: number): Promise<number>;
  count(channel: string): Promise<number>;
  /** Occupied channels whose name starts with `prefix`, with their totals. */
  list(prefix: string): Promise<Map<string, number>>;
  /** Drops every count of `nodeId` (a registration); returns the channels whose total it changed. */
  removeNode(nodeId: string): Promise<string[]>;
}

/**
 * Node liveness, per registration: the core registers each process incarnation under its
 * own id (`{node.id}#{random}`, see core/membership.ts), so a restarted node never renews
 * its previous incarnation's registration. A registration is dead when it has not called
 * `heartbeat` for `ttlMs`.
 */
export interface NodeRegistry {
  /**
   * Renews a registration until now + `ttlMs` (the store's clock), creating it when absent.
   * Returns true when it was still registered (alive, or expired but not yet claimed), false
   * when it was absent: a first heartbeat, or it was claimed by a reaper, forgotten, or lost
   * with the store's data. Renewal and claim are atomic against each other: after a true, no
   * concurrent `claimDead` of the registration succeeded.
   */
  heartbeat(nodeId: string, ttlMs: number): Promise<boolean>;
  /** Ids of nodes that registered but whose heartbeat expired, and that no one has reaped yet. */
  deadNodes(): Promise<string[]>;
  /** Claims the clean-up of a dead node; true for exactly one caller. */
  claimDead(nodeId: string): Promise<boolean>;
  /** Graceful leave: forget the node at once. */
  forget(nodeId: string): Promise<void>;
}

/**
 * Small values with a time to live: bot sessions, idempotency replies, cursors' secrets.
 *
 * Guarantees: `setIfAbsent` is atomic across nodes; a value is gone (get → null) after its TTL.
 */
export interface KeyValueStore {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Stores only when the key is absent. Returns null on success, or the existing value. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<string | null>;
  /** Extends the TTL; false when the key is gone. */
  touch(key: string, ttlMs: number): Promise<boolean>;
  delete(key: string): Promise<void>;
  /**
   * A write by an owner, in one atomic step on one key: stores `value` with `ttlMs` (deletes
   * the key when `value` is null) only when the key holds a JSON object whose string field
   * `ownerField` is one of `owners`, or, with `createIfAbsent`, when the key is absent. True
   * when it wrote (or deleted, or there was nothing to delete); false, changing nothing,
   * otherwise (another owner's value, a value that is not such an object, or an absent key
   * without `createIfAbsent`). Several writers handing the value from owner X to
   * themselves (`owners` [X]) are one compare-and-set: exactly one succeeds.
   */
  writeIfOwned(key: string, value: string | null, ttlMs: number, ownerField: string, owners: readonly string[], createIfAbsent?: boolean): Promise<boolean>;
}

/** One stored element of a versioned message (a version or an annotation) and where the log put it. */
export interface MessageItem {
  /** The log seq of the entry that published it (its serial). */
  readonly seq: number;
  /** Milliseconds since the epoch, the log entry's time. */
  readonly time: number;
  /** Opaque body written by the core (the same text as the log entry's body). */
  readonly body: string;
}

/** The stored state of one message: its versions, live annotations and summary. */
export interface MessageDocument {
  /** The stream epoch of the message and of every item here (`MessageCommit.epoch` of its commits). */
  readonly epoch: string;
  /** Bumped by every successful commit; 0 when nothing was ever committed for the message. */
  readonly revision: number;
  /** Preserved versions, oldest first (the original publish first while it is preserved). */
  readonly versions: readonly MessageItem[];
  /** Live annotations, in seq order. */
  readonly annotations: readonly MessageItem[];
  /** Opaque summary projection written by the core, or null before the first annotation. */
  readonly summary: string | null;
}

/** What one log entry of a commit is, for the document. */
export type MessageAppendRole = 'version' | 'annotation' | 'event';

/** One atomic change of a message, computed by the core from the document it read. */
export interface MessageCommit {
  /**
   * The stream epoch the message belongs to: the commit fails (null, like a moved
   * revision) when the stream's epoch is another one, so a change prepared in one epoch
   * is never applied to a same-seq message of the next.
   */
  readonly epoch: string;
  /** The document revision the change was computed from; the commit fails when it moved. */
  readonly expectedRevision: number;
  /** When `expectedRevision` is 0: the original publish, seeded as the first version. */
  readonly original?: MessageItem;
  /**
   * Bodies appended to the message's stream in order, exactly as `MessageLog.append`
   * would (same seq counter, retention and broadcast). `version` entries are also added
   * to the document's versions, `annotation` entries to its annotations; `event` entries
   * are only published (summary updates, annotation deletes). An append with `owed`
   * stores its owed-effect markers in the same step, as `MessageLog.appendMany` does
   * (every `owed` of one commit names the same owner; a backend without a ledger ignores it).
   */
  readonly appends: readonly { readonly body: string; readonly role: MessageAppendRole; readonly owed?: OwedEffects }[];
  /** Seqs of annotations to drop from the document (deletes, replaced annotations). */
  readonly removeAnnotations?: readonly number[];
  /** Replaces the stored summary when given. */
  readonly summary?: string;
  readonly retention: RetentionPolicy;
  /** Keep at most this many versions (the oldest are dropped first); ≥ 1. */
  readonly maxVersions: number;
  /** The document expires this long after its last commit, in milliseconds; 0 means never. */
  readonly ttlMs: number;
}

/**
 * Versioned messages and annotations: one document per message, changed only by
 * atomic compare-and-commit.
 *
 * Guarantees: `commit` is atomic across nodes: it succeeds only when the document's
 * revision still equals `expectedRevision`, and then (in one step) appends its bodies
 * to the stream's log (consecutive seqs, stored subject to retention, broadcast as
 * `append` bus messages like any publish) and updates the document. Two concurrent
 * commits from the same revision: exactly one succeeds, the other gets null and must
 * re-read, so a message's history is linear and no update is lost. Versions are listed
 * in seq order. A document expires `ttlMs` after its last commit.
 */
export interface MessageStore {
  /** The document of a message, or null when nothing was committed for it (or it expired). */
  load(stream: string, messageSeq: number): Promise<MessageDocument | null>;
  /** Compare-and-commit; the appended log entries, or null when the revision moved. */
  commit(stream: string, messageSeq: number, change: MessageCommit): Promise<LogEntry[] | null>;
  /** Drops every document of a stream (history reset, or a purge of all of it). */
  purge(stream: string): Promise<void>;
  /** Drops the documents of the messages whose seq is below `messageSeq` (their entries were purged), atomically. */
  dropBefore(stream: string, messageSeq: number): Promise<void>;
}

/**
 * Small hashes (field → value) per key: push devices, subscriptions, credentials,
 * templates and publish status. Keys and values are opaque strings built by the caller.
 *
 * Guarantees: each method is atomic per key across nodes; `increment` never loses an
 * update under concurrency; `setIfAbsent` succeeds for exactly one of concurrent callers.
 * A key with no fields does not exist. `expire` applies to the whole key.
 */
export interface HashStore {
  get(key: string, field: string): Promise<string | null>;
  set(key: string, field: string, value: string): Promise<void>;
  /** Sets several fields at once (one round trip). */
  setMany(key: string, fields: ReadonlyMap<string, string>): Promise<void>;
  /** Sets only when the field is absent; true when this call set it. */
  setIfAbsent(key: string, field: string, value: string): Promise<boolean>;
  /** Removes a field; true when it existed. */
  remove(key: string, field: string): Promise<boolean>;
  /** Every field of the key (empty map when absent). Use `scan` for keys that may be large. */
  getAll(key: string): Promise<Map<string, string>>;
  /**
   * Pages through a key's fields. Start with cursor `''`; the reply's cursor is `''` when
   * the scan is complete. A field present for the whole scan is returned at least once;
   * `count` is a hint, a page may be shorter or (on Redis) a little longer.
   */
  scan(key: string, cursor: string, count: number): Promise<{ cursor: string; entries: [string, string][] }>;
  /** Adds `by` to an integer field (absent counts as 0); returns the new value. */
  increment(key: string, field: string, by: number): Promise<number>;
  /** Sets the key's time to live, in milliseconds (refreshing it). */
  expire(key: string, ttlMs: number): Promise<void>;
  /** Removes the whole key. */
  drop(key: string): Promise<void>;
}

/** One job to add to a queue. */
export interface JobSpec {
  /**
   * Unique id. Adding a job whose id is waiting, delayed, running or completed within
   * the queue's retention is a no-op, so producers on several nodes may add the same job.
   */
  readonly id: string;
  /** Opaque body (JSON text written by the caller). */
  readonly data: string;
  /** Run no sooner than this many milliseconds from now. 0 or absent: as soon as a worker is free. */
  readonly delayMs?: number;
}

/** A job as a handler sees it. */
export interface RunningJob {
  readonly id: string;
  readonly data: string;
  /** 1 on the first run, 2 on the first retry, … */
  readonly attempt: number;
}

/** What a handler returns: nothing when the job is finished, or a retry request. */
export type JobOutcome = void | { readonly retryInMs: number };

export type JobHandler = (job: RunningJob) => Promise<JobOutcome>;

/**
 * A durable job queue with delayed jobs and removal.
 *
 * Guarantees: a job runs on at most one worker at a time, cluster-wide; a job whose
 * worker dies (process killed) runs again on another worker after the queue's lock
 * expires, so delivery is at-least-once and handlers must be idempotent. Retries are
 * driven by the handler (`{ retryInMs }`); a handler that throws is retried after the
 * queue's default delay. `remove` only removes a job that is not running.
 */
export interface JobQueue {
  enqueue(jobs: readonly JobSpec[]): Promise<void>;
  /** Removes a waiting or delayed job. True when removed; false when running, finished or unknown. */
  remove(id: string): Promise<boolean>;
  /** Starts this node's workers on the queue (call once). */
  process(handler: JobHandler, concurrency: number): void;
  /** Jobs not finished, cluster-wide: waiting to run, delayed (scheduled or between retries), running. Optional (test doubles). */
  depth?(): Promise<{ readonly waiting: number; readonly delayed: number; readonly active: number }>;
  /** Stops taking jobs, waits for running ones, releases connections. Idempotent. */
  close(): Promise<void>;
}

/** How a queue recovers the jobs of a worker that died. */
export interface JobQueueOptions {
  /**
   * A running job whose worker stops renewing its lock for this long runs again on
   * another worker, in milliseconds (Redis; the memory queue dies with its process).
   * Shorter: faster failover, but a worker whose event loop stalls that long may see its
   * job run twice. Default: the backend's (30000 on Redis).
   */
  readonly lockMs?: number;
}

/** Named job queues sharing one store. */
export interface JobQueues {
  /** The queue called `name` (same object for the same name; options apply when it is first made). */
  queue(name: string, options?: JobQueueOptions): JobQueue;
  /** Closes every queue made here. */
  close(): Promise<void>;
}

/**
 * What an outbox transition follows, read by the store itself (so the decision and the
 * record are one atomic step):
 * - `channel`: occupied while the stream's occupancy total is positive;
 * - `member`: present while the user has a connection in the presence stream;
 * - `count`: the stream's occupancy total (recorded each time it differs from the last one recorded).
 */
export type OutboxSubject =
  | { readonly kind: 'channel'; readonly stream: string }
  | { readonly kind: 'member'; readonly stream: string; readonly userId: string }
  | { readonly kind: 'count'; readonly stream: string };

/** An item to record into some lanes. */
export interface OutboxRecord {
  /** Lanes that get the item (none: the transition is still tracked, nothing is recorded). */
  readonly lanes: readonly string[];
  /** Opaque JSON text (an object or any JSON value), embedded as the item's `b`. */
  readonly body: string;
}

export interface OutboxReconcile {
  readonly subject: OutboxSubject;
  /** Groups the subjects reported up, for `reportedUp` (an app id). */
  readonly scope: string;
  /** How long a `channel`/`member` subject must stay absent before `down` is recorded, in milliseconds; 0: at once. */
  readonly downDelayMs: number;
  /** Recorded when the subject becomes present (and, for `count`, on every change). */
  readonly up: OutboxRecord;
  /** Recorded when the subject has been absent for `downDelayMs`. */
  readonly down: OutboxRecord;
  /**
   * `up`: the caller's own atomic step saw the subject become present (an occupancy total
   * of 1 after +1, a user's first connection). Then `up` is recorded even if the subject
   * is absent again by now (a blip shorter than this call's way to the store), followed
   * by `down` after the delay, so a real transition is never lost to a slow reconcile.
   */
  readonly edge?: 'up';
}

/** An item to append to a lane. */
export interface OutboxAppendItem {
  readonly lane: string;
  /** JSON text, written by the caller. */
  readonly item: string;
  /**
   * The stream whose order the item joins (the subject stream of the transitions that
   * share its lane): a store that splits lanes into parts (a Redis Cluster) puts the item
   * in that stream's part. Not needed for a lane named with its part (as `drains` return it).
   */
  readonly stream?: string;
  /**
   * The owed `webhook` marker this item settles (OwedEffectLedger): the item is recorded
   * only when the marker is still owed, and the marker is removed in the same atomic step
   * (items of one call that name one marker are recorded together, or none). `stream`
   * must be the marker's stream.
   */
  readonly settles?: { readonly owner: string; readonly stream: string; readonly seq: number };
}

/** A lane that just got items and has no drain scheduled for its current epoch. */
export interface OutboxDrain {
  readonly lane: string;
  readonly epoch: number;
}

export interface OutboxReconcileResult {
  /**
   * `up`/`down`/`count` when this call recorded a transition, `pending` when the subject is
   * absent but its delay has not passed (call again after `dueInMs`), `none` when the
   * reported state already matches.
   */
  readonly outcome: 'up' | 'down' | 'count' | 'pending' | 'none';
  /** When a `down` waits (`pending`, or `up` recorded for a blip): milliseconds until it may be recorded; else 0. */
  readonly dueInMs: number;
  /**
   * When a `down` waits: when the subject's absence began (ms, store clock). The same for
   * every caller during one absence and different for the next, so it names the wait
   * (a check scheduled under it is scheduled once). 0 when none waits.
   */
  readonly absentSince: number;
  readonly drains: readonly OutboxDrain[];
}

/** What `peek` sees at the head of a lane. */
export interface OutboxHead {
  /** Items removed from the lane so far; `ack` and `fail` name the head they saw by it. */
  readonly head: number;
  readonly items: readonly string[];
  /** Failed attempts recorded for this head (0 after an ack). */
  readonly tries: number;
}

/**
 * The outbox: what the cluster has announced about channel state, and ordered lanes of
 * items waiting to be sent. Webhooks are built on it (see src/webhooks/); the store knows
 * no protocol.
 *
 * Guarantees:
 * - `reconcile` compares a subject's actual state (read inside the same atomic step) with
 *   the state last recorded for it, and records at most one transition: `up` exactly once
 *   per absent→present change and `down` exactly once per present→absent change that lasted
 *   `downDelayMs` (one that ends sooner records nothing), however many nodes call it,
 *   in whatever order. It is idempotent: calling it again with nothing changed records
 *   nothing. A recorded item is the JSON text
 *   `{"id":"<n>","t":<ms since epoch, store clock>,"n":<subject value>,"b":<body>}` where
 *   `n` is a number unique per deployment (`id` a string of it).
 * - Items of one lane are kept in the order they were recorded and appended; an item is
 *   removed only by `ack` of the head it was read at.
 * - Each lane has a drain epoch: a drain for epoch E is scheduled by whoever got E in
 *   `drains` (from `reconcile`, `append` or `finish`); `finish` moves to E + 1. Epochs only
 *   grow, so a (lane, epoch) pair names one drain for ever.
 * - A store may keep a lane in parts (a Redis Cluster keeps one per shard, so that each
 *   script stays in one slot). `drains` and `activeLanes` then name the parts
 *   `{lane}@{part}`, and `peek`, `ack`, `fail`, `finish` and `append` take those names;
 *   the order holds per part, and the items of one stream (a subject's transitions and
 *   the items appended with that `stream`) always share a part. `{lane}` is the caller's
 *   lane name, so whatever it encodes (`…|…`) still parses from the part's name.
 */
export interface OutboxStore {
  reconcile(request: OutboxReconcile): Promise<OutboxReconcileResult>;
  /**
   * Appends items (JSON text, written by the caller) to lanes, in order. With `once`, the
   * whole call is skipped when the same `once.key` was appended within `once.ttlMs`
   * (several nodes may report one event). Returns the lanes that need a drain.
   */
  append(items: readonly OutboxAppendItem[], once?: { readonly key: string; readonly ttlMs: number }): Promise<OutboxDrain[]>;
  /** Up to `max` items from the head of the lane. */
  peek(lane: string, max: number): Promise<OutboxHead>;
  /** Removes `count` items when the lane's head is still `head`; false when it moved (another drain got there). */
  ack(lane: string, head: number, count: number): Promise<boolean>;
  /** Counts a failed attempt at `head`; returns the tries so far, or 0 when the head moved. */
  fail(lane: string, head: number): Promise<number>;
  /**
   * Ends the drain of `epoch`: when it is the lane's current epoch, the epoch moves on.
   * Returns the current epoch and the items left; when items are left and the epoch moved
   * here, the caller schedules a drain for the returned epoch.
   */
  finish(lane: string, epoch: number): Promise<{ readonly epoch: number; readonly length: number; readonly moved: boolean }>;
  /** Lanes that hold items, with their epoch and length (for sweeps and queue depth). */
  activeLanes(): Promise<Map<string, { readonly epoch: number; readonly length: number }>>;
  /** Subjects of a scope whose recorded state is present (channels and members; pending downs included). */
  reportedUp(scope: string): Promise<OutboxSubject[]>;
}

/**
 * Figures every node shares to enforce limits cluster-wide: counted quotas leased to
 * holders (an app's connections), fixed-window rates (an app's REST requests) and a load
 * figure per holder (how far behind each node's delivery is).
 *
 * A holder is one incarnation of a node (`{nodeId}#{random}` per process start), so a
 * restarted node never inherits, or double-counts, the leases of its previous life.
 *
 * Guarantees:
 * - `lease` is atomic across nodes: the leases of live holders of one quota never total
 *   more than the `limit` given (a lease may always shrink; it grows only into units no
 *   live holder has). A lease lives `ttlMs` from the call that last set it; an expired
 *   holder's units are free again (a dead node's connections are released within its
 *   heartbeat TTL).
 * - Each lease record carries the holder's used count (connections it holds, at most its
 *   lease) and whether the record is exact (the holder reports every admission and close
 *   to the store at once, so it keeps no unreported spare). A lease reply names every
 *   other live holder that may give back units: its record is not exact, or shows spare
 *   (leased > used), or carries no used count. No such holder means the quota's free units
 *   are all there is: nothing can be reclaimed.
 * - `take` never grants more than `limit` units per window of `windowMs`, across nodes;
 *   windows are aligned on the store's clock.
 * - `report` keeps one figure per holder for `ttlMs`; the returned maximum counts a
 *   holder that stopped reporting as behind by its silence past `graceMs`.
 */
/** What a holder asks of a counted quota (QuotaStore.lease). */
export interface LeaseRequest {
  /** Units the holder wants leased (0 gives the lease back). */
  readonly units: number;
  /** Units in use: connections the holder holds once this call succeeds (recorded capped at the lease). */
  readonly used: number;
  /** The holder reports every admission and close at once: its record keeps no unreported spare. */
  readonly exact: boolean;
}

/** A counted quota after a lease call (QuotaStore.lease). */
export interface LeaseReply {
  /** Units now leased to the holder. */
  readonly held: number;
  /** Units leased to live holders, this one included. */
  readonly total: number;
  /** Units in use by live holders as their records state (a record without a used count counts its whole lease). */
  readonly used: number;
  /** Other live holders that may give back units: record not exact, or spare, or without a used count. */
  readonly asks: readonly string[];
}

export interface QuotaStore {
  /**
   * Sets `holder`'s lease on the quota `name` to `request.units`, or as close to it as
   * `limit` allows when growing (never below its current lease), and records its used
   * count (`request.used`, capped at the lease) and exactness. Returns the units now
   * leased to the holder, the totals of live holders (this one included) and the other
   * live holders that may give back units.
   */
  lease(name: string, holder: string, request: LeaseRequest, limit: number, ttlMs: number): Promise<LeaseReply>;
  /**
   * Takes up to `units` from the current window of the rate `name` (at most `limit` per
   * window of `windowMs`). Returns the units granted (0 when the window is spent) and the
   * milliseconds until the window ends.
   */
  take(name: string, units: number, limit: number, windowMs: number): Promise<{ readonly granted: number; readonly resetInMs: number }>;
  /**
   * Records `holder`'s figure for the gauge `name` and returns the largest figure of the
   * holders that reported within `ttlMs`; a holder silent for longer than `graceMs`
   * counts as its figure plus the silence past `graceMs`.
   */
  report(name: string, holder: string, value: number, ttlMs: number, graceMs: number): Promise<number>;
}

/** A fixed-bucket histogram's state: upper bounds, per-bucket counts (the last is +Inf), sum and count. */
export interface HistogramSnapshot {
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/** Figures a backend keeps about its store connections, for metrics (read at scrape). */
export interface BackendTelemetry {
  /** Commands that failed, by kind: `timeout`, `connection` (not connected, dropped), `reply` (the store refused it). */
  readonly commandErrors: ReadonlyMap<string, number>;
  /** Command round trips, in seconds (sent → answered or failed). */
  readonly commandLatency: HistogramSnapshot;
  /** Times the bus subscription was re-established after it was lost. */
  readonly busReconnects: number;
  /** Bus topics this node is subscribed to now (signals, shards, streams): what it costs the store's pub/sub. */
  readonly busTopics?: number;
}

/** What `StoreGeneration` listeners get when the store lost its data. */
export interface DataLoss {
  /** The generation marker this node had seen (gone from the store now). */
  readonly previous: string;
  /** The marker now in the store (written by this node or by another that noticed first). */
  readonly current: string;
}

/**
 * Optional capability: noticing that the shared store lost its data while this node ran
 * (a Redis restarted without persistence, flushed, or swapped for another).
 *
 * Guarantees: the store holds one generation marker, written by whichever node checks
 * first (set-if-absent). Every node checks it at start, whenever its store connection
 * comes back, and at least every few seconds (redis: `GENERATION_CHECK_MS`). When the
 * marker this node saw is gone or replaced, the node logs one warn, writes a new marker
 * if none is there, and calls each listener once for that loss, on this node only (every
 * node notices for itself, within one check). Everything nodes had written is gone:
 * presence, occupancy, node liveness, sessions (listeners re-register what they serve),
 * and every stream's seq counter, so each stream's next append starts a new epoch (see
 * `LogEntry`) whether or not anyone listens. A loss while no node runs is noticed by no
 * one (there is no "before"); epochs still keep old positions from being matched.
 */
export interface StoreGeneration {
  /** The marker this node last saw; null until a check succeeded. */
  current(): string | null;
  /** Adds a listener called once per loss this node notices; returns its remover. Listeners must not throw. */
  onDataLost(listener: (loss: DataLoss) => void): () => void;
}

/**
 * An outage of the backend's store as one episode, open from the moment a connection that
 * was up drops until every connection is back (the bus subscribed again included). The
 * backend logs ONE warn when an episode opens and ONE when it closes (how long, and the
 * counts below); what fails meanwhile because of it (requests, heartbeats, sweeps, job
 * queue calls) is counted here by its owner, who logs it below warn instead of warning
 * on its own. A failure outside an episode (a stuck store answering nothing, a refused
 * login at start-up, a failed script) is its owner's to warn about.
 */
export interface StoreOutage {
  /** True while an episode is open (reading it opens one when a connection that was up is found down). */
  readonly ongoing: boolean;
  /**
   * Counts one failure of `kind` (a camelCase field of the closing line, e.g.
   * `failedRequests`) in the open episode; true when counted, false when none is open.
   */
  count(kind: string): boolean;
}

/** The whole backend, as `createBackend(config)` returns it. */
export interface Backend {
  readonly driver: 'memory' | 'redis';
  readonly bus: Bus;
  readonly log: MessageLog;
  readonly presence: PresenceStore;
  readonly occupancy: OccupancyStore;
  readonly nodes: NodeRegistry;
  readonly kv: KeyValueStore;
  /** Hashes for push state. Optional so a backend can ship without push; push then answers 503. */
  readonly hashes?: HashStore;
  /** Durable job queues for push delivery. Optional, as `hashes`. */
  readonly queues?: JobQueues;
  /**
   * Versioned messages and annotations (issue 4). Optional so a backend can be built
   * before it supports them; the core answers `RC_ERR_MESSAGES_UNSUPPORTED` without it.
   */
  readonly messages?: MessageStore;
  /**
   * The side effects owed by appended messages (redis). Absent on memory: a memory
   * backend dies with its only node, so there is nobody left to owe anything to.
   */
  readonly owed?: OwedEffectLedger;
  /** Outbox lanes and announced state for webhooks. Optional: without it webhooks are refused at start-up. */
  readonly outbox?: OutboxStore;
  /**
   * Cluster-wide quotas, rates and load figures. Optional so a backend can be built
   * before it supports them; the core then counts on this node alone.
   */
  readonly quotas?: QuotaStore;
  /** Store connection figures (Redis); absent for a backend with no connections (memory). */
  readonly telemetry?: BackendTelemetry;
  /** Data-loss detection (redis). Absent on memory, whose data lives and dies with the process. */
  readonly generation?: StoreGeneration;
  /** The store's outages as episodes, for one warn pair per outage (redis). Absent on memory, which has none. */
  readonly outage?: StoreOutage;
  /**
   * Connects (and subscribes to the bus). Resolves once usable; a store that is down at
   * boot is not fatal (redis logs a warning, resolves after its command timeout and keeps
   * reconnecting: `ping` and every operation reject until the store is back).
   */
  start(): Promise<void>;
  /** Resolves when the store answers; rejects with `RC_ERR_BACKEND_UNAVAILABLE` otherwise. */
  ping(): Promise<void>;
  /** Releases connections and timers. Idempotent. */
  close(): Promise<void>;
}
