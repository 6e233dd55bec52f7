/**
 * The checkers: pure functions over the publisher's ledger of acknowledged publishes
 * (`Ack`) and what every subscriber recorded (`Track`), plus the history reader.
 *
 * Delivery. An acknowledged publish is *expected* by a track when one of its coverage
 * intervals began before the publish was sent and lasted until `graceMs` after it was
 * acknowledged (a subscriber that went away in between owes nothing). An expected publish
 * must have arrived exactly once; if it never arrived, a `recovery_failed` received after
 * it was sent excuses it (the client was told), otherwise it is *undelivered*. Order:
 * two consecutive arrivals whose publishes share an era (no data loss between them) must
 * have increasing serials.
 *
 * Epochs. A serial (with whatever epoch the server shows beside it) must name one payload:
 * two acknowledged publishes, or a publish and a received frame, carrying the same channel,
 * epoch and serial for different sequence numbers are a serial served from the wrong
 * epoch. A resume with a `last_serial` from before a data loss that the server answered
 * as a clean recovery (no `recovery_failed`) is one too.
 */
import Pusher from 'pusher';
import { TEST_APP } from '../helpers/app.ts';
import type { Ack } from './publisher.ts';
import type { Track } from './tracks.ts';
import type { ResumeRecord } from './ws-watchers.ts';

export interface DeliveryFigures {
  expected: number;
  undelivered: number;
  /** Expected, not delivered, but the client got `recovery_failed`. */
  told: number;
  duplicates: number;
  outOfOrder: number;
  /** A few examples of undelivered and duplicate publishes, for the log (each line says which). */
  readonly examples: string[];
}

export function emptyDelivery(): DeliveryFigures {
  return { expected: 0, undelivered: 0, told: 0, duplicates: 0, outOfOrder: 0, examples: [] };
}

/** Orders serials as the server does: shorter first, then as strings. */
export function compareSerials(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

function covered(track: Track, ack: Ack, graceMs: number): boolean {
  return track.intervals.some((interval) => interval.from <= ack.sentAt && (interval.to === null || interval.to >= ack.ackAt + graceMs));
}

/** Delivery figures per phase (the phase an acknowledged publish was sent in). */
export function checkDelivery(tracks: readonly Track[], acks: readonly Ack[], graceMs: number): Map<string, DeliveryFigures> {
  const byPhase = new Map<string, DeliveryFigures>();
  const figures = (phase: string): DeliveryFigures => {
    let found = byPhase.get(phase);
    if (found === undefined) byPhase.set(phase, (found = emptyDelivery()));
    return found;
  };
  const bySeq = new Map<number, Ack>();
  for (const ack of acks) bySeq.set(ack.seq, ack);
  for (const track of tracks) {
    const counts = new Map<number, number>();
    for (const received of track.received) counts.set(received.seq, (counts.get(received.seq) ?? 0) + 1);
    for (const ack of acks) {
      if (ack.channel !== track.channel || !covered(track, ack, graceMs)) continue;
      const phase = figures(ack.phase);
      phase.expected += 1;
      const count = counts.get(ack.seq) ?? 0;
      if (count > 1) {
        phase.duplicates += count - 1;
        if (phase.examples.length < 8) {
          const times = track.received.filter((received) => received.seq === ack.seq).map((received) => `${new Date(received.at).toISOString().slice(11, 23)}${received.serial === null ? '' : ` (serial ${received.serial})`}`);
          phase.examples.push(`duplicate: ${track.name} ${track.channel}: seq ${ack.seq} serial ${ack.serial} (via ${ack.node}, acked ${new Date(ack.ackAt).toISOString().slice(11, 23)}) arrived ${count} times, at ${times.join(', ')}`);
        }
      }
      if (count > 0) continue;
      if (track.told.some((at) => at >= ack.sentAt)) phase.told += 1;
      else {
        phase.undelivered += 1;
        if (phase.examples.length < 8) phase.examples.push(`undelivered: ${track.name} ${track.channel}: seq ${ack.seq} serial ${ack.serial} (via ${ack.node}, acked ${new Date(ack.ackAt).toISOString().slice(11, 23)})`);
      }
    }
    let previous: Ack | null = null;
    const seen = new Set<number>();
    for (const received of track.received) {
      if (seen.has(received.seq)) continue;
      seen.add(received.seq);
      const ack = bySeq.get(received.seq);
      if (ack === undefined || ack.serial === null) continue;
      if (previous !== null && previous.era === ack.era && previous.epoch === ack.epoch && compareSerials(ack.serial, previous.serial!) < 0) figures(ack.phase).outOfOrder += 1;
      previous = ack;
    }
  }
  return byPhase;
}

/** A resume, with the harness's era and phase at the time. */
export interface ResumeOutcome {
  readonly record: ResumeRecord;
  readonly era: number;
  readonly phase: string;
}

/** Wrong-epoch serials per phase: reissued serials, and clean recoveries across a data loss. */
export function checkEpochs(tracks: readonly Track[], acks: readonly Ack[], resumes: readonly ResumeOutcome[]): Map<string, { wrongEpoch: number; examples: string[] }> {
  const byPhase = new Map<string, { wrongEpoch: number; examples: string[] }>();
  const add = (phase: string, example: string): void => {
    let found = byPhase.get(phase);
    if (found === undefined) byPhase.set(phase, (found = { wrongEpoch: 0, examples: [] }));
    found.wrongEpoch += 1;
    if (found.examples.length < 5) found.examples.push(example);
  };
  const bySeq = new Map<number, Ack>();
  for (const ack of acks) bySeq.set(ack.seq, ack);
  const owners = new Map<string, number>();
  const claim = (channel: string, epoch: string | null, serial: string, seq: number, source: string): void => {
    const key = `${channel}\n${epoch ?? ''}\n${serial}`;
    const owner = owners.get(key);
    if (owner === undefined) owners.set(key, seq);
    else if (owner !== seq) add(bySeq.get(seq)?.phase ?? 'unknown', `${source}: ${channel} serial ${serial}${epoch === null ? '' : ` epoch ${epoch}`} named seq ${owner} and seq ${seq}`);
  };
  for (const ack of acks) if (ack.serial !== null) claim(ack.channel, ack.epoch, ack.serial, ack.seq, 'publish reply');
  for (const track of tracks) {
    for (const received of track.received) {
      if (received.serial === null) continue;
      claim(track.channel, received.epoch ?? bySeq.get(received.seq)?.epoch ?? null, received.serial, received.seq, track.name);
    }
  }
  for (const { record, era, phase } of resumes) {
    if (record.lastSeq === null || record.outcome !== 'clean') continue;
    const ack = bySeq.get(record.lastSeq);
    if (ack !== undefined && ack.era < era) add(phase, `${record.track}: resumed from serial ${record.lastSerial} (before a data loss) and got a clean recovery (${record.replayed} events), no recovery_failed`);
  }
  return byPhase;
}

/** Sequence numbers of every `tick` in a channel's history (oldest first, every page). */
export async function historySeqs(port: number, channel: string, maxPages = 500): Promise<Set<number>> {
  const sdk = new Pusher({ appId: TEST_APP.id, key: TEST_APP.key, secret: TEST_APP.secret, host: '127.0.0.1', port: String(port), useTLS: false, timeout: 20_000 });
  const seqs = new Set<number>();
  let cursor: string | null = null;
  for (let page = 0; page < maxPages; page++) {
    const params: Record<string, string> = { limit: '1000', direction: 'oldest_first' };
    if (cursor !== null) params.cursor = cursor;
    const response = await sdk.get({ path: `/channels/${channel}/history`, params });
    const body = (await response.json()) as { items: { name?: string; data?: string }[]; has_more: boolean; next_cursor: string | null };
    for (const item of body.items) {
      if (item.name !== 'tick' || typeof item.data !== 'string') continue;
      try {
        const seq = (JSON.parse(item.data) as { seq?: unknown }).seq;
        if (typeof seq === 'number') seqs.add(seq);
      } catch {
        // not a tick of this run
      }
    }
    if (!body.has_more || body.next_cursor === null) return seqs;
    cursor = body.next_cursor;
  }
  throw new Error(`history of ${channel} has more than ${maxPages} pages`);
}

/** Acknowledged publishes (of `acks`) missing from the history read through `port`. */
export async function missingFromHistory(port: number, acks: readonly Ack[]): Promise<{ missing: number; checked: number; examples: string[] }> {
  const channels = [...new Set(acks.map((ack) => ack.channel))];
  let missing = 0;
  const examples: string[] = [];
  for (const channel of channels) {
    const stored = await historySeqs(port, channel);
    for (const ack of acks) {
      if (ack.channel !== channel || stored.has(ack.seq)) continue;
      missing += 1;
      if (examples.length < 5) examples.push(`${channel}: seq ${ack.seq} serial ${ack.serial} acked by ${ack.node}`);
    }
  }
  return { missing, checked: acks.length, examples };
}
