/**
 * What this node has told its subscribers about each presence channel's members: per
 * stream with local subscribers, per user, the newest presence version passed on to all
 * of them and whether it made the user present; and, per subscriber, the users its member
 * list (sent at subscribe) told it at a newer version than that ("ahead").
 *
 * Guarantee: a subscriber is told a change of a user only when the change's version is
 * newer than the last one it was told for that user, by a change or by its member list.
 * Announcements that reach this node out of order (a reaper's `member_removed`, decided
 * before a re-registration's `member_added` but published after it), or that were still
 * on their way when a member list already carrying them was sent, are dropped for the
 * subscribers they would take back. Versions are the store's (see PresenceStore): one
 * order for every node. A change without a version is passed on and not recorded.
 *
 * Memory: an "ahead" entry lives until a change at least as new of that user is passed
 * on (or a resynchronisation reads one), or until its subscriber leaves the stream: one
 * number per member list entry not yet announced here. Owned by the hub: a stream's view
 * is dropped when its last local subscriber goes (a later subscriber starts from its own
 * member list). Users seen absent are kept, the oldest dropped past MAX_ABSENT per stream
 * (a change that late is not expected: it would have to be overtaken by that many newer
 * ones of other users).
 */
import type { Member } from './types.ts';

/** Users seen absent kept per stream (their versions guard against a late older `member_added`). */
const MAX_ABSENT = 1000;

interface Seen {
  readonly version: number;
  readonly present: boolean;
}

/** No connection to leave out. */
const NOBODY: ReadonlySet<string> = new Set();

interface StreamView {
  /** userId → the newest change passed on to every subscriber; absent users in the order they went. */
  readonly users: Map<string, Seen>;
  absent: number;
  /**
   * userId → connectionId → the version a member list told that subscriber the user was
   * present at, newer than the user's entry in `users` (always: entries are dropped once
   * `users` reaches them).
   */
  readonly ahead: Map<string, Map<string, number>>;
}

/** A member read from the store that some subscribers were not told is present, and the subscribers that were. */
export interface Unseen {
  readonly member: Member;
  readonly spared: ReadonlySet<string>;
}

export class PresenceView {
  private readonly streams = new Map<string, StreamView>();

  /**
   * Records a change about to be passed on and returns the subscribers to leave out (told
   * as new or newer by their member list), or null when it is not newer than the user's
   * last change passed on here (drop it). Without a version: nobody left out, unrecorded.
   */
  admit(stream: string, userId: string, present: boolean, version: number | undefined): ReadonlySet<string> | null {
    if (version === undefined || version <= 0) return NOBODY;
    const view = this.viewOf(stream);
    const seen = view.users.get(userId);
    if (seen !== undefined && seen.version >= version) return null;
    this.set(view, userId, { version, present }, seen);
    return this.catchUp(view, userId, version);
  }

  /**
   * Records the members of a snapshot read from the store. Sent to `recipient` (its
   * member list): the users it lists at a version newer than what was passed on here are
   * recorded as told to it alone; returns []. Read to resynchronise (no recipient):
   * returns the members not passed on here as present (unknown, or last seen absent at an
   * older version), to announce, each with the subscribers whose member list already had
   * them; present here at an older version they are recorded silently. Either way, users
   * seen absent at a version the snapshot does not beat are left out (the leave is newer
   * than the reading).
   */
  noteMembers(stream: string, members: readonly Member[], recipient?: string): Unseen[] {
    const view = this.viewOf(stream);
    const unseen: Unseen[] = [];
    for (const member of members) {
      const version = member.version ?? 0;
      const seen = view.users.get(member.userId);
      // Seen absent at a version the snapshot does not beat: the leave is the newer news.
      if (seen !== undefined && !seen.present && version <= seen.version) continue;
      if (recipient !== undefined) {
        if (seen !== undefined && version <= seen.version) continue;
        let told = view.ahead.get(member.userId);
        if (told === undefined) {
          told = new Map();
          view.ahead.set(member.userId, told);
        }
        told.set(recipient, Math.max(version, told.get(recipient) ?? 0));
        continue;
      }
      if (seen === undefined || !seen.present) unseen.push({ member, spared: new Set(view.ahead.get(member.userId)?.keys()) });
      if (seen === undefined || version > seen.version) {
        this.set(view, member.userId, { version: Math.max(version, seen?.version ?? 0), present: true }, seen);
        this.catchUp(view, member.userId, version);
      }
    }
    return unseen;
  }

  /** The versions of the user that the subscriber's member list told it and that were not passed on to all yet (for tests and checks). */
  ahead(stream: string, userId: string, connectionId: string): number | undefined {
    return this.streams.get(stream)?.ahead.get(userId)?.get(connectionId);
  }

  /** Forgets what the member list of a subscriber that left the stream told it. */
  forgetSubscriber(stream: string, connectionId: string): void {
    const view = this.streams.get(stream);
    if (view === undefined || view.ahead.size === 0) return;
    for (const [userId, told] of view.ahead) {
      if (told.delete(connectionId) && told.size === 0) view.ahead.delete(userId);
    }
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
      view = { users: new Map(), absent: 0, ahead: new Map() };
      this.streams.set(stream, view);
    }
    return view;
  }

  /**
   * The user's version `version` was passed on to all: the subscribers told it, or a
   * newer one, by their member list are returned (to leave out); entries it reaches are
   * dropped.
   */
  private catchUp(view: StreamView, userId: string, version: number): ReadonlySet<string> {
    const told = view.ahead.get(userId);
    if (told === undefined) return NOBODY;
    const spared = new Set<string>();
    for (const [connectionId, toldVersion] of told) {
      if (toldVersion >= version) spared.add(connectionId);
      if (toldVersion <= version) told.delete(connectionId);
    }
    if (told.size === 0) view.ahead.delete(userId);
    return spared;
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
