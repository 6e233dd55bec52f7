/**
 * What this node has passed on to its subscribers about each presence channel's members:
 * per stream with local subscribers, per user, the newest presence version passed on and
 * whether it made the user present.
 *
 * Guarantee: a change is passed on only when its version is newer than the user's last
 * one passed on here, so announcements that reach this node out of order (a reaper's
 * `member_removed`, decided before a re-registration's `member_added` but published
 * after it) cannot undo a newer change. Versions are the store's (see PresenceStore):
 * one order for every node. A change without a version is passed on and not recorded.
 *
 * Why this is safe for every local subscriber: each one knows every user at least at the
 * version recorded here (it got the change, or subscribed after it and was sent a member
 * list read later). A member list sent to one subscriber says nothing about the others,
 * so it never raises a recorded version: its users unknown here are only marked present
 * at version 0 (so a resynchronisation does not announce them again), which holds back no
 * change.
 *
 * Owned by the hub: a stream's view is dropped when its last local subscriber goes (a
 * later subscriber starts from its own member list). Users seen absent are kept, the
 * oldest dropped past MAX_ABSENT per stream (a change that late is not expected: it
 * would have to be overtaken by that many newer ones of other users).
 */
import type { Member } from './types.ts';

/** Users seen absent kept per stream (their versions guard against a late older `member_added`). */
const MAX_ABSENT = 1000;

interface Seen {
  readonly version: number;
  readonly present: boolean;
}

interface StreamView {
  /** userId → the newest change passed on; absent users in the order they went. */
  readonly users: Map<string, Seen>;
  absent: number;
}

export class PresenceView {
  private readonly streams = new Map<string, StreamView>();

  /**
   * Records a change about to be passed on; false when it is not newer than the user's
   * last change passed on here (drop it). True, unrecorded, without a version.
   */
  admit(stream: string, userId: string, present: boolean, version: number | undefined): boolean {
    if (version === undefined || version <= 0) return true;
    const view = this.viewOf(stream);
    const seen = view.users.get(userId);
    if (seen !== undefined && seen.version >= version) return false;
    this.set(view, userId, { version, present }, seen);
    return true;
  }

  /** Marks the users of a member list sent to one subscriber present where nothing is known of them (version 0, see the header). */
  noteSnapshot(stream: string, members: readonly Member[]): void {
    const view = this.viewOf(stream);
    for (const member of members) {
      if (!view.users.has(member.userId)) view.users.set(member.userId, { version: 0, present: true });
    }
  }

  /**
   * Records the members read from the store to resynchronise (after the bus was lost; the
   * caller announces the returned ones to every local subscriber) and returns those this
   * node has not passed on as present: unknown here, or last seen absent at an older
   * version. Present here at an older version they are recorded silently (the subscribers
   * already show them); seen absent at a version the reading does not beat they are left
   * out (the leave is newer than the reading).
   */
  resync(stream: string, members: readonly Member[]): Member[] {
    const view = this.viewOf(stream);
    const unseen: Member[] = [];
    for (const member of members) {
      const version = member.version ?? 0;
      const seen = view.users.get(member.userId);
      if (seen !== undefined && !seen.present && version <= seen.version) continue;
      if (seen === undefined || !seen.present) unseen.push(member);
      if (seen === undefined || version > seen.version) this.set(view, member.userId, { version, present: true }, seen);
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
