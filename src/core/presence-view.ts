/**
 * What this node has told its subscribers about each presence channel's members: per
 * stream with local subscribers, per user, the newest presence version passed on and
 * whether it made the user present. A snapshot sent at subscribe counts as told to its
 * recipient only: the same change, when it arrives, is still passed on to the others.
 *
 * Guarantee: a change is passed on only when its version is newer than the user's last
 * one here, so announcements that reach this node out of order (a reaper's
 * `member_removed`, decided before a re-registration's `member_added` but published
 * after it) cannot undo a newer change. Versions are the store's (see PresenceStore):
 * one order for every node. A change without a version is passed on and not recorded.
 *
 * Owned by the hub: a stream's view is dropped when its last local subscriber goes (a
 * later subscriber starts from its own snapshot). Users seen absent are kept, the
 * oldest dropped past MAX_ABSENT per stream (a change that late is not expected: it
 * would have to be overtaken by that many newer ones of other users).
 */
import type { Member } from './types.ts';

/** Users seen absent kept per stream (their versions guard against a late older `member_added`). */
const MAX_ABSENT = 1000;

interface Seen {
  readonly version: number;
  readonly present: boolean;
  /**
   * Set while this version is known only from snapshots: the connections that were sent
   * it (the others were not told yet). Absent once the change was passed on to everyone.
   */
  readonly toldOnly?: Set<string>;
}

/** No connection to leave out (see `toldOnly`). */
const NOBODY: ReadonlySet<string> = new Set();

interface StreamView {
  /** userId → the newest change passed on; absent users in the order they went. */
  readonly users: Map<string, Seen>;
  absent: number;
}

export class PresenceView {
  private readonly streams = new Map<string, StreamView>();

  /**
   * The connections that were sent this very version of the user in their snapshot, and
   * so are to be left out when the change itself is passed on (none, usually). Asked
   * before `admit`, which forgets them.
   */
  toldOnly(stream: string, userId: string, version: number | undefined): ReadonlySet<string> {
    const seen = version === undefined ? undefined : this.streams.get(stream)?.users.get(userId);
    return seen !== undefined && seen.version === version ? (seen.toldOnly ?? NOBODY) : NOBODY;
  }

  /**
   * Records a change about to be passed on; false when it is not newer than the user's
   * last change passed on here (drop it). A version so far known only from snapshots is
   * news for the subscribers not sent them (see `toldOnly`). True, unrecorded, without a
   * version.
   */
  admit(stream: string, userId: string, present: boolean, version: number | undefined): boolean {
    if (version === undefined || version <= 0) return true;
    const view = this.viewOf(stream);
    const seen = view.users.get(userId);
    if (seen !== undefined && (seen.version > version || (seen.version === version && seen.toldOnly === undefined))) return false;
    this.set(view, userId, { version, present }, seen);
    return true;
  }

  /**
   * Records the members of a snapshot read from the store (sent to a subscriber, or read
   * to resynchronise) and returns those this node has not passed on as present: unknown
   * here, or last seen absent at an older version (to announce). Present here at an older
   * version they are recorded silently; seen absent at a version the snapshot does not
   * beat they are left out (the leave is newer than the reading).
   */
  noteMembers(stream: string, members: readonly Member[], recipient?: string): Member[] {
    const view = this.viewOf(stream);
    const unseen: Member[] = [];
    for (const member of members) {
      const version = member.version ?? 0;
      const seen = view.users.get(member.userId);
      // Seen absent at a version the snapshot does not beat: the leave is the newer news.
      if (seen !== undefined && !seen.present && version <= seen.version) continue;
      if (recipient !== undefined) {
        // Sent to one subscriber: told to it alone until the change itself arrives.
        if (seen === undefined || version > seen.version) this.set(view, member.userId, { version, present: true, toldOnly: new Set([recipient]) }, seen);
        else if (version === seen.version) seen.toldOnly?.add(recipient);
        continue;
      }
      if (seen === undefined || !seen.present || seen.toldOnly !== undefined) unseen.push(member);
      if (seen === undefined || version > seen.version || seen.toldOnly !== undefined) {
        this.set(view, member.userId, { version: Math.max(version, seen?.version ?? 0), present: true }, seen);
      }
    }
    return unseen;
  }

  /** The user's last change passed on in the stream (for tests and checks). */
  seen(stream: string, userId: string): Seen | undefined {
    return this.streams.get(stream)?.users.get(userId);
  }

  /** Forgets a stream (its last local subscriber went). */
  forget(stream: string): void {
    this.streams.delete(stream);
  }

  private viewOf(stream: string): StreamView {
    let view = this.streams.get(stream);
    if (view === undefined) {
      view = { users: new Map(), absent: 0 };
      this.streams.set(stream, view);
    }
    return view;
  }

  private set(view: StreamView, userId: string, next: Seen, previous: Seen | undefined): void {
    if (previous !== undefined && !previous.present) view.absent--;
    // Deleted first, so absent users stay in the order they went (the oldest is dropped first).
    view.users.delete(userId);
    view.users.set(userId, next);
    if (next.present) return;
    view.absent++;
    for (const [id, seen] of view.users) {
      if (view.absent <= MAX_ABSENT) break;
      if (seen.present) continue;
      view.users.delete(id);
      view.absent--;
    }
  }
}
