/**
 * Types shared by the core and the doors. Doors see messages and presence changes only
 * through these; they never see backend entries.
 */
import { serialOf } from './serials.ts';

/** Why a position cannot be recovered: entries after it are gone, or it is of another stream epoch. */
/**
 * Why missed messages cannot be delivered: `gap_too_old` (no longer retained, or too
 * many), `epoch_changed` (the position is from another stream epoch), `untracked` (a
 * wildcard's channels missed while the node was off its bus: which channels had
 * messages is not known, so none could be caught up).
 */
export type RecoveryFailure = 'gap_too_old' | 'epoch_changed' | 'untracked';

/** Every front door a message can come in through (`console`: an operator's test event). */
export const ORIGINS = ['rest', 'ws', 'bayeux', 'console', 'internal'] as const;
export type Origin = (typeof ORIGINS)[number];

/** Who sent a message, as the bot API shows it (`senderType`, `senderID`, …). */
export interface Sender {
  /** `API` for bots, `Human` for people (WebSocket users), `Server` for signed REST. */
  readonly type: 'API' | 'Human' | 'Server';
  readonly id: string;
  readonly displayName?: string;
}

/**
 * What the core stores in a stream entry's body (JSON). Fields are short-lived in
 * memory but long-lived in Redis history, so additions must stay optional.
 */
export interface MessageRecord {
  /** `message.create` for a publish; later issues add mutation and annotation actions. */
  readonly action: string;
  readonly name: string;
  /** Always a string on the wire (Pusher sends data as a string). */
  readonly data: string;
  /** The connection that sent it: it does not get its own message back. */
  readonly socketId?: string;
  /** The authenticated user of the sending connection, for client events. */
  readonly userId?: string;
  readonly origin: Origin;
  readonly sender?: Sender;
  /** Free-form extras (e.g. `push`), passed through. */
  readonly extras?: Readonly<Record<string, unknown>>;
  /** Publication tags (`tags` of a REST event): what subscribers' `tags_filter` is matched against. */
  readonly tags?: Readonly<Record<string, string>>;
  // --- message model (issue 4); every field optional so older bodies still parse
  /** Mutations, annotations and summaries: the serial of the message they concern. */
  readonly messageSerial?: string;
  /** Mutations: when the original message was published (ms since the epoch). */
  readonly createdAt?: number;
  /** Mutations: who changed the message, why, and the idempotency key used. */
  readonly change?: MessageChangeInfo;
  /** `message.append`: the appended text (`data` holds the full text after the append). */
  readonly fragment?: string;
  /** `annotation.create` / `annotation.delete`: the annotation. */
  readonly annotation?: AnnotationRecord;
  /** `message.summary`: the message's summary projection after the change. */
  readonly summary?: Readonly<Record<string, unknown>>;
  /** `message.summary`: the summarised message's text (its latest version's data), for views that show both (the bot stream). */
  readonly text?: string;
}

/** The actions a stored record can carry. `message.create` is a plain publish. */
export type MessageAction =
  | 'message.create'
  | 'message.update'
  | 'message.delete'
  | 'message.append'
  | 'annotation.create'
  | 'annotation.delete'
  | 'message.summary';

/** Who changed a message and why (part of every mutation record). */
export interface MessageChangeInfo {
  readonly clientId?: string;
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** The idempotency key (or `op_id`) of the request, and a fingerprint of its operation. */
  readonly idempotencyKey?: string;
  readonly fingerprint?: string;
}

/** An annotation as stored and broadcast. */
export interface AnnotationRecord {
  /** `<namespace>:<aggregation>.v1` */
  readonly type: string;
  readonly name?: string;
  readonly clientId?: string;
  /** `multiple` only: how much this annotation adds (default 1). */
  readonly count?: number;
  /** Opaque JSON value attached by the client. */
  readonly data?: unknown;
  /** `annotation.delete`: the serial of the annotation removed. */
  readonly annotationSerial?: string;
}

/**
 * True for a plain publish. Everything else (mutations, annotations, summaries) only
 * reaches subscribers that opted in through `Subscriber.deliverMutation`.
 */
export function isCreateRecord(record: MessageRecord): boolean {
  return record.action === 'message.create' || record.action === undefined;
}

/** An encoder turns a message into one door's wire text; see `ChannelMessage.encode`. */
export type MessageEncoder = (message: ChannelMessage) => string;

/**
 * A message as delivered to subscribers on this node: built once per bus message and
 * shared by every subscriber, so each door's wire text is computed once per publish
 * (`encode` memoises per encoder), never once per subscriber.
 */
export class ChannelMessage {
  /** The serial, built on first read (`serial`): a message nobody here reads the serial of (no subscribers) never builds it. */
  private builtSerial: string | undefined = undefined;
  /** Wire texts by encoder, made on the first encode: a message nobody here receives (no subscribers) never needs one. */
  private encodings: Map<MessageEncoder, string> | null = null;

  constructor(
    readonly appId: string,
    readonly channel: string,
    /** The stream epoch `seq` counts in (see `LogEntry`); '' for an ephemeral message. */
    readonly epoch: string,
    /** The stream seq; 0 for an ephemeral message (`extras.ephemeral`), which is never stored. */
    readonly seq: number,
    /** Milliseconds since the epoch, from the store. */
    readonly time: number,
    readonly record: MessageRecord,
  ) {}

  /** The message's serial; '' for an ephemeral message (seq 0: never stored, so it has none). */
  get serial(): string {
    return (this.builtSerial ??= this.seq > 0 ? serialOf(this.epoch, this.seq) : '');
  }

  /** True for an ephemeral message: delivered live, never stored, no serial, not recoverable. */
  get ephemeral(): boolean {
    return this.seq === 0;
  }

  /**
   * True when this stored message is at or before seq `seq` of `epoch`: a replay up to
   * there already covered it. A message of another epoch is never covered (its seq
   * counts in another sequence), and an ephemeral one never is.
   */
  coveredBy(epoch: string | null, seq: number): boolean {
    return this.seq > 0 && epoch !== null && this.epoch === epoch && this.seq <= seq;
  }

  /** The wire text for `encoder`, computed on first use and cached for every other subscriber. */
  encode(encoder: MessageEncoder): string {
    this.encodings ??= new Map();
    let text = this.encodings.get(encoder);
    if (text === undefined) {
      text = encoder(this);
      this.encodings.set(encoder, text);
    }
    return text;
  }
}

/** A presence member as the protocol exposes it. */
export interface Member {
  readonly userId: string;
  /** Parsed user info (any JSON value). */
  readonly userInfo: unknown;
  /** In members read from the store: the presence version of the user's first join (see PresenceStore; 0 when unknown). */
  readonly version?: number;
}

export type PresenceChangeKind = 'member_added' | 'member_removed';

export interface PresenceChange {
  readonly kind: PresenceChangeKind;
  readonly appId: string;
  readonly channel: string;
  readonly member: Member;
  /** The connection whose join caused it (it does not receive its own member_added). */
  readonly connectionId?: string;
  /**
   * The store's presence version of the change (see PresenceStore): a node passes on a
   * change only when it is newer than the last it passed on for the user in the channel
   * (hub.ts). Absent from a change whose version is unknown; such a change is passed on.
   */
  readonly version?: number;
}

/**
 * A door's connection as the hub sees it. The door decides the wire format; the hub
 * decides who gets what.
 */
export interface Subscriber {
  /** Unique per connection across nodes (the Pusher socket_id, the Bayeux clientId). */
  readonly connectionId: string;
  /** Called for every message on a subscribed channel, except the subscriber's own. */
  deliver(message: ChannelMessage): void;
  /** Called for presence changes on a subscribed presence channel. */
  presenceChanged?(change: PresenceChange): void;
  /**
   * Opt-in (WebSocket protocol 2, Bayeux): called for mutation, annotation and summary
   * records. A subscriber without it never sees them (Pusher protocol 7 clients could
   * not parse them).
   */
  deliverMutation?(message: ChannelMessage): void;
  /**
   * Opt-in (the WebSocket door): the channel's cluster-wide subscription count changed,
   * for apps with `subscriptionCountEvents` (see subscription-counts.ts).
   */
  subscriptionCountChanged?(channel: string, count: number): void;
  /**
   * Messages of the channel after `lastSerial` ('' when none was delivered yet) were
   * missed by this node (it was off the bus) and cannot be delivered: the door tells the
   * client (`roomcast:recovery_failed`), which may read history or resubscribe.
   */
  recoveryFailed?(channel: string, lastSerial: string, reason: string, code: RecoveryFailure): void;
}

/** A signed-in user's connection, reachable by user id from any node. */
export interface UserConnection {
  readonly connectionId: string;
  readonly userId: string;
  /** User ids whose online status this connection watches (the sign-in's `watchlist`); none when absent. */
  readonly watchlist?: readonly string[];
  /** A server-to-user event (`POST /apps/{id}/users/{user}/events`, or sign-in events). */
  deliverUserEvent(name: string, data: string): void;
  /** Online/offline changes of watched users (only called when the app has watchlist events). */
  deliverWatchlistEvents?(events: readonly WatchlistEvent[]): void;
  /** Closes the connection (terminate_connections). */
  terminate(): void;
}

/** One watchlist event: these watched users are now online, or offline (Pusher's shape). */
export interface WatchlistEvent {
  readonly name: 'online' | 'offline';
  readonly user_ids: readonly string[];
}
