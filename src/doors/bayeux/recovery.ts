/**
 * Recovery by `ext.last_serial` on /meta/subscribe, for `/service/stream`, mapped channels
 * and wildcard subscriptions. Serials are per channel, so `last_serial` is either
 *
 * - a string: the last serial seen on `/service/stream` (when it is subscribed in this
 *   message), or else on the one exact channel subscribed; or
 * - an object `{"<Bayeux channel>": "<serial>", …}`: one serial per channel, each channel
 *   `/service/stream` or a channel that a subscription of this message covers (so a
 *   wildcard `/room/**` names the channels below it the bot has seen).
 *
 * Serials are opaque: the core compares them (core/serials.ts, history.since). A serial the
 * channel cannot continue from (too old, not a serial, of another stream epoch, newer than
 * the channel) is a failure with a code (`gap_too_old`, `epoch_changed`): nothing is
 * replayed, the reply's `ext.recovery` says so and a `RecoveryFailed` event is queued on
 * the channel (not on raw-data channels).
 *
 * Ordering: the subscribe handler calls `holdAll` before the core subscription starts, so
 * every live entry of a recovering channel from then on is held (including one published
 * while the subscription awaits its occupancy round trip); `recover` then queues history
 * after the serial, in order, then the held entries it did not cover. Nothing twice.
 */
import type { Core } from '../../core/core.ts';
import { parseSerial, type StreamPosition } from '../../core/serials.ts';
import type { ChannelMessage, RecoveryFailure } from '../../core/types.ts';
import { bayeuxOfChannel, channelOfBayeux } from './channel-map.ts';
import { recoveryFailedText, type BayeuxClient, type Targets } from './client.ts';
import { isChannelName, patternMatches } from './grammar.ts';
import { STREAM_CHANNEL, type BotWire } from './stream.ts';

/** Longest serial accepted, in characters (serials are opaque; this bounds hostile input). */
const MAX_SERIAL_LENGTH = 100;
/** Channels one subscribe may recover. */
const MAX_RECOVERED_CHANNELS = 100;

/** One channel to recover. */
export interface RecoveryPlan {
  /** The Bayeux channel the bot named (`/service/stream` or a mapped channel). */
  readonly bayeux: string;
  /** The app channel whose history is read. */
  readonly channel: string;
  readonly lastSerial: string;
  readonly to: Targets;
}

/** What the subscribe reply's `ext.recovery` says about one channel. */
export interface RecoveryResult {
  readonly channel: string;
  readonly recovered: boolean;
  /** Entries queued from history. */
  readonly replayed: number;
  /** Why it was not recovered, when the history said: `gap_too_old` or `epoch_changed` (see docs/messages.md#serials). */
  readonly code?: RecoveryFailure;
  readonly reason?: string;
}

/**
 * The recoveries a subscribe asks for (`added`: its subscriptions new to the client), and
 * results for the ones that cannot even start (a malformed entry, a channel not covered).
 */
export function planRecoveries(
  lastSerial: unknown,
  added: readonly string[],
  client: BayeuxClient,
): { plans: RecoveryPlan[]; refused: RecoveryResult[] } {
  const plans: RecoveryPlan[] = [];
  const refused: RecoveryResult[] = [];
  if (lastSerial === undefined || lastSerial === null) return { plans, refused };
  let entries: [string, unknown][];
  if (typeof lastSerial === 'string') {
    const exact = added.filter((s) => !s.endsWith('*'));
    const target = added.includes(STREAM_CHANNEL) ? STREAM_CHANNEL : exact.length === 1 && added.length === 1 ? exact[0]! : null;
    if (target === null) {
      const channel = added.join(',').slice(0, 200);
      return { plans, refused: [{ channel, recovered: false, replayed: 0, reason: 'a string last_serial needs /service/stream or one channel; for a wildcard send {"<channel>": "<serial>", …}' }] };
    }
    entries = [[target, lastSerial]];
  } else if (typeof lastSerial === 'object' && !Array.isArray(lastSerial)) {
    entries = Object.entries(lastSerial as Record<string, unknown>).slice(0, MAX_RECOVERED_CHANNELS);
  } else {
    return { plans, refused: [{ channel: '', recovered: false, replayed: 0, reason: 'last_serial must be a string or an object of serials by channel' }] };
  }
  // Channels some earlier subscription already delivers live have missed nothing since.
  const earlier = [...client.subscriptions].filter((s) => !added.includes(s));
  for (const [bayeux, serial] of entries) {
    const channel = bayeux.slice(0, 256);
    if (typeof serial !== 'string' || serial.length === 0 || serial.length > MAX_SERIAL_LENGTH) {
      refused.push({ channel, recovered: false, replayed: 0, reason: 'the serial must be a string of 1–100 characters' });
      continue;
    }
    if (bayeux === STREAM_CHANNEL) {
      if (!added.includes(STREAM_CHANNEL)) refused.push({ channel, recovered: false, replayed: 0, reason: 'not subscribed in this message' });
      else plans.push({ bayeux, channel: client.session.channel, lastSerial: serial, to: { stream: true, mapped: false } });
      continue;
    }
    const app = isChannelName(bayeux) ? channelOfBayeux(bayeux) : null;
    if (app === null || !added.some((s) => s !== STREAM_CHANNEL && patternMatches(s, bayeux))) {
      refused.push({ channel, recovered: false, replayed: 0, reason: 'no subscription of this message covers the channel' });
      continue;
    }
    if (earlier.some((s) => s !== STREAM_CHANNEL && patternMatches(s, bayeux))) {
      refused.push({ channel, recovered: true, replayed: 0, reason: 'already subscribed: delivered live' });
      continue;
    }
    plans.push({ bayeux, channel: app, lastSerial: serial, to: { stream: false, mapped: true } });
  }
  return { plans, refused };
}

/** Holds the live entries of each planned channel; returns the plans that can run (one per channel). */
export function holdAll(client: BayeuxClient, plans: readonly RecoveryPlan[]): RecoveryPlan[] {
  return plans.filter((plan) => client.hold(plan.channel));
}

/** Runs one planned recovery (its channel held by `holdAll`); never leaves the channel held. */
export async function recover(core: Core, wire: BotWire, client: BayeuxClient, plan: RecoveryPlan): Promise<RecoveryResult> {
  const { appId } = client.session;
  let covered: StreamPosition = { epoch: null, seq: 0 };
  let replayed: ChannelMessage[] = [];
  try {
    const recovery = await core.history.since(appId, plan.channel, plan.lastSerial);
    core.counters.recoveries.add(recovery.status !== 'recovered' ? 'bayeux\nfailed' : 'bayeux\nok');
    if (recovery.status !== 'recovered') {
      const event = recoveryFailedEvent(plan, recovery.reason, recovery.status, wire);
      if (event !== null) client.pushText(event);
      return { channel: plan.bayeux, recovered: false, replayed: 0, code: recovery.status, reason: recovery.reason };
    }
    replayed = recovery.messages;
    // What the bot says it has seen counts as covered (as on the WebSocket door): recovery
    // confirmed it is a position of the stream's current epoch.
    const last = replayed.at(-1);
    covered = last === undefined ? (parseSerial(plan.lastSerial) ?? covered) : { epoch: last.epoch, seq: last.seq };
    return { channel: plan.bayeux, recovered: true, replayed: replayed.length };
  } finally {
    client.finishRecovery(plan.channel, replayed, covered, plan.to);
  }
}

/** The event telling a bot its missed messages on a channel cannot be replayed (none on raw-data channels). */
function recoveryFailedEvent(plan: RecoveryPlan, reason: string, code: RecoveryFailure, wire: BotWire): string | null {
  const channel = plan.to.stream ? STREAM_CHANNEL : bayeuxOfChannel(plan.channel);
  if (channel === null || (!plan.to.stream && wire.isRawChannel(plan.channel))) return null;
  return recoveryFailedText(channel, plan.lastSerial.slice(0, MAX_SERIAL_LENGTH), code, reason);
}
