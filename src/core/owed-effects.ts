/**
 * Owed side effects: the transactional outbox of a publish's push admission and message
 * webhook (see OwedEffectLedger in backends/ports.ts).
 *
 * Who owns what:
 * - The appending node owns the effects its append owes, from the append on: the append
 *   script stores one marker per kind (`push`, `webhook`) in the same atomic step as the
 *   entry, under the node's registration (publishing.ts asks the observers what they owe:
 *   `CoreObserver.owes`). Its push service settles the `push` marker once the push is
 *   admitted (a push whose quick tries all failed is tried again every 2 s while the node
 *   runs); its webhook recorder settles the `webhook` marker in the very outbox append
 *   that records the event (a batch that fails is tried again while the node runs).
 * - When that registration dies (SIGKILL, a crash, a stall past `node.heartbeatTtlMs`),
 *   the node that reaps it (membership.ts: `claimDead` picks exactly one) owns what it
 *   left: `takeOverOwed` reads every marker of the dead registration and has each
 *   observer do its kinds and settle them, as if it had appended the message itself.
 *   The same happens to a node's own earlier registration after it registered again,
 *   and a node that stops with markers still owed leaves its registration listed as
 *   expired (instead of forgetting it), so some node takes them over.
 *
 * Exactly once: a `webhook` item is recorded only by the outbox append that removes its
 * marker (atomically), so the owner and a taker-over can never both record it. A push is
 * admitted under the id derived from its serial (`ch_…`) whose status is claimed
 * atomically; a taker-over that finds the id claimed completes the admission the dead
 * owner left half done (`resumeAdmission`, push/publish.ts), and settles. A node that
 * was only stalled and goes on with its own admission beside its taker-over writes the
 * same status, body and expand job id, so the push still runs once.
 *
 * Bound: a dead node's effects are taken over within one heartbeat TTL plus one
 * heartbeat interval of its death, by whichever node reaps it.
 *
 * Scope: publishes (the log appends of publishing.ts) and the bodies message-store
 * commits append (updates, deletes, appends, annotations: asked through the appending
 * view, append-observer.ts). Appends no observer owes anything for carry no marker.
 */
import type { EffectKind, OwedEffectLedger } from '../backends/ports.ts';
import { parseStreamKey } from './channels.ts';
import type { CoreObservers } from './observers.ts';
import { serialOf } from './serials.ts';
import type { MessageRecord } from './types.ts';

/**
 * Takes over every side effect `owner` still owes (see the module comment). Resolves with
 * the number of messages taken over once all are settled; rejects after trying them all
 * when some failed (the markers of those stay, for the next try).
 */
export async function takeOverOwed(ledger: OwedEffectLedger, observers: CoreObservers, owner: string): Promise<number> {
  const owed = await ledger.owedBy(owner);
  if (owed.length === 0) return 0;
  // One message per entry, with all the kinds it still owes.
  const messages = new Map<string, { stream: string; epoch: string; seq: number; time: number; body: string; kinds: EffectKind[] }>();
  for (const { kind, stream, entry } of owed) {
    const key = `${entry.seq}:${stream}`;
    const known = messages.get(key);
    if (known === undefined) messages.set(key, { stream, epoch: entry.epoch, seq: entry.seq, time: entry.time, body: entry.body, kinds: [kind] });
    else known.kinds.push(kind);
  }
  const work: Promise<void>[] = [];
  for (const { stream, epoch, seq, time, body, kinds } of messages.values()) {
    const { appId, channel } = parseStreamKey(stream);
    let record: MessageRecord;
    try {
      record = JSON.parse(body) as MessageRecord;
    } catch {
      // Not a record this version wrote: nothing can be done for it but to stop owing it.
      work.push(Promise.all(kinds.map((kind) => ledger.settle(owner, kind, stream, seq))).then(() => undefined));
      continue;
    }
    work.push(observers.settleOwed({ appId, channel, serial: serialOf(epoch, seq), time, record, owed: { owner, stream, seq, kinds } }));
  }
  const outcomes = await Promise.allSettled(work);
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
  return messages.size;
}

/** True when `owner` still owes some side effect. */
export async function owesAnything(ledger: OwedEffectLedger, owner: string): Promise<boolean> {
  return (await ledger.owedBy(owner)).length > 0;
}
