/**
 * Observers of what this node's core did: the webhooks (src/webhooks/) register one, so
 * the core needs no knowledge of them. Every notification is a plain call that must
 * return at once (observers queue their own work); an observer that throws is logged
 * and never fails the core's operation.
 *
 * "Decided here" means this node's own atomic backend step reported the edge (an
 * occupancy total, a presence first/last): each edge is reported on exactly one node.
 */
import type { Logger } from 'pino';
import type { EffectKind } from '../backends/ports.ts';
import type { MessageRecord } from './types.ts';

/** A message this node appended to a channel's log (a publish, a mutation or an annotation). */
export interface AppendedMessage {
  readonly appId: string;
  readonly channel: string;
  readonly serial: string;
  /** Milliseconds since the epoch, the store's. */
  readonly time: number;
  readonly record: MessageRecord;
  /**
   * The side effects this append owes, stored with it (see `owes` and OwedEffectLedger):
   * the observer that owes `kind` settles its marker once its effect is admitted or
   * recorded. Absent: nothing owed (the memory backend, or no observer asked).
   */
  readonly owed?: OwedRef;
}

/** Where an appended message's owed markers are: who owes them, the entry's seq, and the kinds. */
export interface OwedRef {
  readonly owner: string;
  readonly stream: string;
  readonly seq: number;
  readonly kinds: readonly EffectKind[];
}

/** A bot session that began or ended in its room. */
export interface BotSessionChange {
  readonly kind: 'bot_joined' | 'bot_left';
  readonly appId: string;
  /** The room's presence channel. */
  readonly channel: string;
  readonly space: string;
  readonly room: string;
  readonly bot: string;
  readonly session: string;
}

export interface CoreObserver {
  /** This node changed a channel's subscription count by `delta`, leaving `total` cluster-wide. */
  occupancyChanged?(appId: string, channel: string, total: number, delta: number): void;
  /** Decided here: a user's first connection joined (`joined`), or last one left, a presence channel. */
  memberChanged?(appId: string, channel: string, userId: string, joined: boolean): void;
  /** Dead nodes' entries (or this node's own, at stop) were removed: channel state changed without a per-channel report. */
  entriesRemoved?(): void;
  /** This node's entries were removed while it was alive (reaped after a stall) and registered again. */
  reregistered?(): void;
  /** Is any message of this app wanted? Asked before `messageAppended`, so an unwanted append costs no parse. */
  wantsMessages?(appId: string): boolean;
  messageAppended?(message: AppendedMessage): void;
  /**
   * Asked before a publish is appended, only on a backend with an owed-effects ledger:
   * the side effect this observer will owe for the message (its marker is stored in the
   * same atomic step as the entry), or null. Must be cheap: every such publish asks.
   */
  owes?(appId: string, channel: string, record: MessageRecord): EffectKind | null;
  /**
   * Takes over owed effects another registration left (a dead node's, reaped here): does
   * this observer's kinds of `message.owed` and settles their markers, exactly as if it
   * had appended the message itself. Resolves once settled; rejects on a backend fault
   * (the reaper then lists the dead registration again, and the next reap tries again).
   */
  settleOwed?(message: AppendedMessage & { readonly owed: OwedRef }): Promise<void>;
  /** A subscriber of a cache channel found nothing cached. */
  cacheMissed?(appId: string, channel: string): void;
  /** A connection of this node signed in as a user, or signed out (or closed). */
  userSignedIn?(appId: string, connectionId: string, userId: string): void;
  userSignedOut?(appId: string, connectionId: string, userId: string): void;
  botSession?(change: BotSessionChange): void;
}

type Notification = Exclude<keyof CoreObserver, 'wantsMessages' | 'owes' | 'settleOwed'>;

export class CoreObservers {
  private readonly observers = new Set<CoreObserver>();

  constructor(private readonly logger: Logger) {}

  /** Registers an observer; returns the function that removes it. */
  add(observer: CoreObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** True when some observer wants this app's messages (cheap: no observer, no work). */
  wantsMessages(appId: string): boolean {
    for (const observer of this.observers) if (observer.wantsMessages?.(appId) === true) return true;
    return false;
  }

  /**
   * The side effects owed for a message about to be appended: the kinds the observers
   * owe, or null when none does (no array is built then).
   */
  owedKinds(appId: string, channel: string, record: MessageRecord): EffectKind[] | null {
    let kinds: EffectKind[] | null = null;
    for (const observer of this.observers) {
      const kind = observer.owes?.(appId, channel, record) ?? null;
      if (kind !== null && !(kinds ??= []).includes(kind)) kinds.push(kind);
    }
    return kinds;
  }

  /** Has every observer take over its kinds of an owed message; rejects with the first failure once all have run. */
  async settleOwed(message: AppendedMessage & { readonly owed: OwedRef }): Promise<void> {
    const outcomes = await Promise.allSettled([...this.observers].map((observer) => observer.settleOwed?.(message)));
    const failure = outcomes.find((outcome) => outcome.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
  }

  notify<K extends Notification>(name: K, ...args: Parameters<NonNullable<CoreObserver[K]>>): void {
    for (const observer of this.observers) {
      const method = observer[name] as ((...values: unknown[]) => void) | undefined;
      if (method === undefined) continue;
      try {
        method.apply(observer, args);
      } catch (error) {
        this.logger.error({ err: error, notification: name }, 'a core observer threw');
      }
    }
  }
}
