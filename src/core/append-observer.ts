/**
 * Sees every append this node makes to a channel's log: publishes (`log.append`,
 * `log.appendMany`) and message-model commits (`messages.commit`), through a view of the
 * backend whose log and message store report each stored entry after the store confirmed
 * it. The core hands this view to the modules that append, so none of them has to
 * remember to report; everything else passes through unchanged.
 */
import type { Backend, LogBound, LogEntry, LogRange, MessageCommit, MessageLog, OwedEffects, RetentionPolicy, StreamState } from '../backends/ports.ts';
import type { MessageRecord } from './types.ts';

/**
 * Told each confirmed append. `record`, when given, is the object the one entry's body
 * encodes (the appender had it in hand), so a listener need not parse the body again.
 */
export type AppendListener = (stream: string, entries: readonly LogEntry[], record?: MessageRecord, owed?: readonly (OwedEffects | undefined)[]) => void;

/** The side effects an appended body owes (see OwedEffectLedger), or undefined. */
export type OwedOfBody = (stream: string, body: string) => OwedEffects | undefined;

/** An item of `appendMany`; an appender that has the record its body encodes may pass it along for the listener. */
export interface AppendItem {
  readonly stream: string;
  readonly body: string;
  readonly retention: RetentionPolicy;
  readonly record?: MessageRecord;
  /** The side effects this append owes (see OwedEffectLedger). */
  readonly owed?: OwedEffects;
}

/**
 * The backend, with its log's and message store's appends reported to `listener`. With
 * `owedOf`, each body a message-store commit appends is asked what it owes, and the
 * commit stores those markers with it (MessageCommit.appends' `owed`); the listener is
 * told them, per entry.
 */
export function observeAppends(backend: Backend, listener: AppendListener, owedOf?: OwedOfBody): Backend {
  const log = new ObservedLog(backend.log, listener);
  const messages =
    backend.messages === undefined
      ? undefined
      : intercept(backend.messages, {
          commit: (original) => async (...args: unknown[]) => {
            const [stream, seq] = args as [string, number];
            let change = args[2] as MessageCommit;
            const owed = owedOf === undefined ? undefined : change.appends.map((append) => owedOf(stream, append.body));
            if (owed !== undefined && owed.some((item) => item !== undefined)) {
              change = { ...change, appends: change.appends.map((append, i) => (owed[i] === undefined ? append : { ...append, owed: owed[i] })) };
            }
            const entries = (await original(stream, seq, change)) as LogEntry[] | null;
            if (entries !== null) listener(stream, entries, undefined, owed);
            return entries;
          },
        });
  return { ...backend, log, ...(messages === undefined ? {} : { messages }) };
}

/**
 * The log with its appends reported. A plain class rather than a proxy: every publish
 * goes through `appendMany`, and a proxy's trap (plus a bound function and an async
 * wrapper) costs on each call. Every method of the port is here, so none is missed.
 */
class ObservedLog implements MessageLog {
  constructor(
    private readonly log: MessageLog,
    private readonly listener: AppendListener,
  ) {}

  append(stream: string, body: string, retention: RetentionPolicy): Promise<LogEntry> {
    return this.log.append(stream, body, retention).then((entry) => {
      this.listener(stream, [entry]);
      return entry;
    });
  }

  appendMany(items: readonly AppendItem[]): Promise<LogEntry[]> {
    return this.log.appendMany(items).then((entries) => {
      for (let index = 0; index < entries.length; index++) {
        const item = items[index]!;
        this.listener(item.stream, [entries[index]!], item.record);
      }
      return entries;
    });
  }

  read(stream: string, range: LogRange): Promise<LogEntry[]> {
    return this.log.read(stream, range);
  }

  get(stream: string, seq: number): Promise<LogEntry | null> {
    return this.log.get(stream, seq);
  }

  state(stream: string): Promise<StreamState> {
    return this.log.state(stream);
  }

  purge(stream: string): Promise<void> {
    return this.log.purge(stream);
  }

  reset(stream: string): Promise<void> {
    return this.log.reset(stream);
  }

  dropBefore(stream: string, before: LogBound): Promise<number> {
    return this.log.dropBefore(stream, before);
  }
}

type Wrapper = (original: (...args: unknown[]) => Promise<unknown>) => (...args: unknown[]) => Promise<unknown>;

/** A proxy of `target` whose named methods are wrapped; every other property is the target's own. */
function intercept<T extends object>(target: T, wrappers: Readonly<Record<string, Wrapper>>): T {
  const wrapped = new Map<string, (...args: unknown[]) => Promise<unknown>>();
  return new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver) as unknown;
      if (typeof property !== 'string' || typeof value !== 'function') return value;
      const wrapper = wrappers[property];
      if (wrapper === undefined) return (value as (...args: unknown[]) => unknown).bind(object);
      let method = wrapped.get(property);
      if (method === undefined) {
        method = wrapper((value as (...args: unknown[]) => Promise<unknown>).bind(object));
        wrapped.set(property, method);
      }
      return method;
    },
  });
}
