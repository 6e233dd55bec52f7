/**
 * The publish path of the core: what every REST and WebSocket publish goes through,
 * and what the core's appending modules report each stored append to.
 *
 * Guarantees:
 * - Refused with RC_ERR_BACKEND_BUS_DOWN (retryable) while this node's bus subscription
 *   is down: a node that knows it is off the bus cannot vouch that its own subscribers
 *   get the message. Nothing is appended then.
 * - Every event is validated before anything is appended or broadcast: one bad event
 *   fails the whole call.
 * - Stored events go to the log in one backend round trip, one atomic append per
 *   channel (serial, history and broadcast in one step); results come in input order.
 *   Ephemeral events (`extras.ephemeral`, see ephemeral.ts) are broadcast as signals,
 *   never stored, and have no serial ('').
 * - Each append this node makes (publishes, message mutations, annotations) is reported
 *   once to the observers that want its app's messages, after the store confirmed it,
 *   with the record the appender built (no parse) when it had one. A publish reports its
 *   own appends in the step that builds its result, with the same serial strings the
 *   caller gets (each built once); other modules append through `appending`.
 *
 * - On a backend with an owed-effects ledger (redis), a publish whose observers will owe
 *   side effects for it (`CoreObserver.owes`: an `extras.push` admission, a message
 *   webhook) stores markers of them in the append's own atomic step, and reports the
 *   append with `owed`; the observers settle them (core/owed-effects.ts). A publish no
 *   observer owes anything for sends exactly the append it would without a ledger. The
 *   same holds for the bodies a message-store commit appends (updates, deletes,
 *   annotations), asked through the appending view.
 *
 * Who owns what: this module owns the appending view of the backend (`appending`), the
 * published counters per app and door, and the report of appends to the observers. The
 * bus echo of this node's own records belongs to the bus inbound (`rememberOwnRecord`);
 * validation and the stored record belong to publish.ts and ephemeral.ts.
 */
import type { AppConfig } from '../config/schema.ts';
import type { Backend, LogEntry, OwedEffects } from '../backends/ports.ts';
import { createErrorWith } from '../errors.ts';
import { observeAppends, type OwedOfBody } from './append-observer.ts';
import { parseStreamKey } from './channels.ts';
import type { NodeCounters } from './counters.ts';
import { isEphemeral, publishEphemeral, validateEphemeral } from './ephemeral.ts';
import type { CoreObservers } from './observers.ts';
import { isCompanionStream } from './presence-history.ts';
import { publishEvents, validateEvent, type OwedOf, type PublishInput, type PublishItem, type PublishedMessage } from './publish.ts';
import { parseSerial, serialOf } from './serials.ts';
import type { SignalSender } from './signals.ts';
import type { MessageRecord, Origin } from './types.ts';

/** `app\norigin` keys of `counters.published`, built once per app and origin rather than per publish. */
const publishedKeys = new Map<string, Map<Origin, string>>();

function publishedKey(appId: string, origin: Origin): string {
  let byOrigin = publishedKeys.get(appId);
  if (byOrigin === undefined) publishedKeys.set(appId, (byOrigin = new Map()));
  let key = byOrigin.get(origin);
  if (key === undefined) byOrigin.set(origin, (key = `${appId}\n${origin}`));
  return key;
}

export interface PublishingOptions {
  readonly backend: Backend;
  readonly observers: CoreObservers;
  readonly counters: NodeCounters;
  /** Told each stored body and the record it encodes, before the append (the bus inbound's own records). */
  readonly rememberOwnRecord: (body: string, record: MessageRecord) => void;
  readonly sendSignal: SignalSender;
  /** The registration this node's entries are stored under now (the owner of what its appends owe). */
  readonly owner: () => string;
}

export class Publishing {
  /** The backend as the appending modules see it: every append they make is reported to the observers. */
  readonly appending: Backend;
  private readonly backend: Backend;
  private readonly observers: CoreObservers;
  private readonly counters: NodeCounters;
  private readonly rememberOwnRecord: (body: string, record: MessageRecord) => void;
  private readonly sendSignal: SignalSender;
  /**
   * The side effects a publish item owes (asked of the observers), on a backend with an
   * owed-effects ledger; undefined otherwise, so the memory backend's publishes ask nothing.
   */
  private readonly owedOf: OwedOf | undefined;

  constructor(options: PublishingOptions) {
    this.backend = options.backend;
    this.observers = options.observers;
    this.counters = options.counters;
    this.rememberOwnRecord = options.rememberOwnRecord;
    this.sendSignal = options.sendSignal;
    const { owner, observers } = options;
    this.owedOf =
      options.backend.owed === undefined
        ? undefined
        : (appId, channel, record) => {
            const kinds = observers.owedKinds(appId, channel, record);
            return kinds === null ? undefined : { owner: owner(), kinds };
          };
    this.appending = observeAppends(options.backend, this.onAppended, this.owedOf === undefined ? undefined : this.owedOfBody(this.owedOf));
  }

  /** What a body appended by a message-store commit owes (its record parsed: commits are not the publish path). */
  private owedOfBody(owedOf: OwedOf): OwedOfBody {
    return (stream, body) => {
      if (isCompanionStream(stream)) return undefined;
      const { appId, channel } = parseStreamKey(stream);
      if (!this.observers.wantsMessages(appId)) return undefined;
      try {
        return owedOf(appId, channel, JSON.parse(body) as MessageRecord);
      } catch {
        return undefined;
      }
    };
  }

  /**
   * Publishes validated events; resolves with each event's serials per channel (see the
   * header), or with what `shape` makes of them: `shape` runs in the step that builds
   * them (a caller's reply costs no promise of its own).
   */
  publish(app: AppConfig, inputs: readonly PublishInput[]): Promise<PublishedMessage[][]>;
  publish<R>(app: AppConfig, inputs: readonly PublishInput[], shape: (published: PublishedMessage[][]) => R): Promise<R>;
  publish<R>(app: AppConfig, inputs: readonly PublishInput[], shape?: (published: PublishedMessage[][]) => R): Promise<R | PublishedMessage[][]> {
    if (this.backend.bus.isSubscribed?.() === false) return Promise.reject(createErrorWith('RC_ERR_BACKEND_BUS_DOWN', { details: { retryAfterSec: 1 } }));
    // Not async: every REST and WebSocket publish comes through here, and each async
    // layer adds a promise and a microtask hop.
    let mixed = false;
    for (const input of inputs) if (isEphemeral(input)) mixed = true;
    if (mixed) {
      return this.publishMixed(app, inputs).then((messages) => {
        const counted = this.countPublished(app, inputs, messages);
        return shape === undefined ? counted : shape(counted);
      });
    }
    try {
      // Appended to the backend's own log, not the appending view: the observers are told
      // (and the count taken) in publishEvents' own step, with the serials it built.
      if (shape === undefined) return publishEvents(this.backend.log, app, inputs, this.rememberOwnRecord, this.storedAndCounted, this.owedOf);
      return publishEvents(this.backend.log, app, inputs, this.rememberOwnRecord, (on, given, messages, items) => shape(this.storedAndCounted(on, given, messages, items)), this.owedOf);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Reports a publish's stored messages to the observers that want its app's messages,
   * with the serials and records the publish built; returns `messages`.
   */
  private readonly stored = (app: AppConfig, _inputs: readonly PublishInput[], messages: PublishedMessage[][], items: readonly PublishItem[]): PublishedMessage[][] => {
    if (!this.observers.wantsMessages(app.id)) return messages;
    let index = 0;
    for (const group of messages) {
      for (const message of group) {
        const item = items[index++]!;
        if (isCompanionStream(item.stream)) continue;
        const { owed } = item;
        if (owed === undefined) {
          this.observers.notify('messageAppended', { appId: app.id, channel: message.channel, serial: message.serial, time: message.time, record: item.record });
          continue;
        }
        const ref = { owner: owed.owner, stream: item.stream, seq: parseSerial(message.serial)!.seq, kinds: owed.kinds };
        this.observers.notify('messageAppended', { appId: app.id, channel: message.channel, serial: message.serial, time: message.time, record: item.record, owed: ref });
      }
    }
    return messages;
  };

  private readonly storedAndCounted = (app: AppConfig, inputs: readonly PublishInput[], messages: PublishedMessage[][], items: readonly PublishItem[]): PublishedMessage[][] =>
    this.countPublished(app, inputs, this.stored(app, inputs, messages, items));

  /** Counts what a publish stored, per app and door (metrics); returns `messages`. */
  private readonly countPublished = (app: AppConfig, inputs: readonly PublishInput[], messages: PublishedMessage[][]): PublishedMessage[][] => {
    for (let index = 0; index < inputs.length; index++) {
      const input = inputs[index]!;
      const channels = messages[index]?.length ?? 0;
      this.counters.published.add(publishedKey(app.id, input.origin), channels);
      if (input.origin === 'ws' && input.name.startsWith('client-')) this.counters.clientEvents.add(app.id, channels);
    }
    return messages;
  };

  /** Stored events in one backend round trip, ephemeral ones as signals; results in input order. */
  private async publishMixed(app: AppConfig, inputs: readonly PublishInput[]): Promise<PublishedMessage[][]> {
    const stored = inputs.filter((input) => !isEphemeral(input));
    // Validated up front, so a bad stored event fails the call before anything is broadcast.
    for (const input of inputs) (isEphemeral(input) ? validateEphemeral : validateEvent)(app, input);
    const published = stored.length > 0 ? await publishEvents(this.backend.log, app, stored, this.rememberOwnRecord, this.stored, this.owedOf) : [];
    let next = 0;
    const out: PublishedMessage[][] = [];
    for (const input of inputs) {
      out.push(isEphemeral(input) ? await publishEphemeral(this.sendSignal, app, input, this.rememberOwnRecord) : published[next++]!);
    }
    return out;
  }

  /** Reports an append another module made (messages, annotations) to the observers that want its app's messages. */
  private readonly onAppended = (stream: string, entries: readonly LogEntry[], known?: MessageRecord, owed?: readonly (OwedEffects | undefined)[]): void => {
    if (isCompanionStream(stream)) return;
    const { appId, channel } = parseStreamKey(stream);
    if (!this.observers.wantsMessages(appId)) return;
    for (const [index, entry] of entries.entries()) {
      let record: MessageRecord;
      if (known !== undefined && entries.length === 1) {
        record = known;
      } else {
        try {
          record = JSON.parse(entry.body) as MessageRecord;
        } catch {
          continue;
        }
      }
      const effects = owed?.[index];
      const message = { appId, channel, serial: serialOf(entry.epoch, entry.seq), time: entry.time, record };
      if (effects === undefined) this.observers.notify('messageAppended', message);
      else this.observers.notify('messageAppended', { ...message, owed: { owner: effects.owner, stream, seq: entry.seq, kinds: effects.kinds } });
    }
  };
}
