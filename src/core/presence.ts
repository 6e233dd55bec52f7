/**
 * Presence: joins and leaves of this node's connections in presence channels, the
 * `member_added` / `member_removed` announcements, and presence history records.
 *
 * Ownership: membership entries live in the backend, tagged with the registration id of
 * the process incarnation that serves the connection (see membership.ts), so any node
 * can list members and a dead incarnation's entries can be removed as a whole. This node
 * keeps what it needs to finish its own leaves and to register its members again after
 * its registration was lost: the member behind each of its memberships (recorded before
 * the backend join, so a join in flight is never missed), and leaves a backend fault
 * held up.
 */
import type { Logger } from 'pino';
import type { Backend, PresenceMember } from '../backends/ports.ts';
import type { AppRegistry } from './apps.ts';
import type { RegistrationGate } from './registration-gate.ts';
import type { CoreObservers } from './observers.ts';
import { inBatches } from './subscriptions.ts';
import { parseStreamKey, streamKey } from './channels.ts';
import { recordPresenceChange, type PresenceAction } from './presence-history.ts';
import type { SignalSender } from './signals.ts';
import type { Member, Subscriber } from './types.ts';
import { warnOutsideOutage } from './failure-run.ts';

/** Bound on presence leaves queued during a backend outage (one per departed connection). */
const MAX_PENDING_LEAVES = 100_000;

/** A user who left a channel (a stream key) and must be announced. */
export interface Departure {
  readonly channel: string;
  readonly userId: string;
  /** The store's presence version of the leave (see PresenceStore), when known. */
  readonly version?: number;
}

export class PresenceTracker {
  /** Presence leaves that failed on a backend fault, retried after each heartbeat (see leave). */
  private readonly pendingLeaves = new Map<string, { readonly key: string; readonly connectionId: string }>();
  /**
   * `{stream key}\n{connectionId}` → the member of each of this node's presence memberships:
   * to announce a departure a late leave hid, and to register the members again.
   */
  private readonly joinedUsers = new Map<string, { readonly userId: string; readonly userInfo: string }>();

  constructor(
    private readonly backend: Backend,
    private readonly apps: AppRegistry,
    /** The id this node's presence entries are stored under. */
    private readonly nodeId: () => string,
    private readonly sendSignal: SignalSender,
    private readonly logger: Logger,
    /** Told each user's first join and last leave this node decided (and reaped departures). */
    private readonly observers?: CoreObservers,
    /** Held while a re-registration writes the members; joins and leaves wait for it. */
    private readonly gate?: RegistrationGate,
  ) {}

  /**
   * Snapshot of this node's memberships (taken synchronously when the registration id
   * changed), and the step that joins them again under the current id, announcing
   * `member_added` once per user and channel with the user's presence version. Announced
   * whether or not the join was the user's first: the user may be present already through
   * an earlier attempt whose reply was lost (a timeout after Redis ran the script), after
   * subscribers were told the user left; a node that already passed on that version drops
   * the announcement (presence-view.ts). The announcement excludes nobody: the member's
   * own connections may have been told it left. Rejects after trying every membership
   * when some join failed.
   */
  reregister(): () => Promise<void> {
    const memberships = [...this.joinedUsers].map(([id, member]) => {
      const cut = id.lastIndexOf('\n');
      return { key: id.slice(0, cut), connectionId: id.slice(cut + 1), ...member };
    });
    return async () => {
      const announced = new Set<string>();
      const failures = await inBatches(memberships, async ({ key, connectionId, userId, userInfo }) => {
        const { firstForUser, version } = await this.backend.presence.join(key, { connectionId, nodeId: this.nodeId(), userId, userInfo });
        const { appId, channel } = parseStreamKey(key);
        const member: Member = { userId, userInfo: parseJson(userInfo) };
        if (firstForUser) {
          this.observers?.notify('memberChanged', appId, channel, userId, true);
          void this.record(appId, channel, 'presence.enter', userId, member.userInfo);
        } else if (version <= 0) {
          // No version to tell a repeat from news (a store written before versions): only a first join is announced.
          return;
        }
        const once = `${key}\n${userId}`;
        if (announced.has(once)) return;
        announced.add(once);
        await this.sendSignal({ type: 'presence', change: { kind: 'member_added', appId, channel, member, version } });
      });
      if (failures > 0) throw new Error(`${failures} of ${memberships.length} presence members could not be registered again`);
    };
  }

  /**
   * Records a member for a connection already subscribed on this node and announces
   * `member_added` when this is the user's first connection. Returns the members (the
   * joiner included), or null when the channel already had `maxUsers` other users
   * (checked atomically with the join, cluster-wide; 0: no bound). The caller undoes the
   * subscription when this throws or refuses.
   */
  async join(appId: string, channel: string, subscriber: Subscriber, member: Member, maxUsers = 0): Promise<Member[] | null> {
    const key = streamKey(appId, channel);
    const id = `${key}\n${subscriber.connectionId}`;
    const userInfo = JSON.stringify(member.userInfo ?? null);
    // Recorded first: a re-registration that starts while this join is on its way registers it too.
    this.joinedUsers.set(id, { userId: member.userId, userInfo });
    let firstForUser: boolean;
    let version: number;
    let members: readonly PresenceMember[];
    try {
      const held = this.gate?.pass();
      if (held != null) await held;
      // The members are read in the join's atomic step (the joiner included).
      const joined = await this.backend.presence.joinListing(key, { connectionId: subscriber.connectionId, nodeId: this.nodeId(), userId: member.userId, userInfo }, maxUsers);
      if (joined === null) {
        if (this.joinedUsers.get(id)?.userId === member.userId) this.joinedUsers.delete(id);
        return null;
      }
      ({ firstForUser, version, members } = joined);
    } catch (error) {
      // The caller undoes the subscription (and leaves); a failed join is not this node's member.
      if (this.joinedUsers.get(id)?.userId === member.userId) this.joinedUsers.delete(id);
      throw error;
    }
    if (firstForUser) {
      this.observers?.notify('memberChanged', appId, channel, member.userId, true);
      void this.record(appId, channel, 'presence.enter', member.userId, member.userInfo);
      await this.sendSignal({
        type: 'presence',
        change: { kind: 'member_added', appId, channel, member, connectionId: subscriber.connectionId, version },
      });
    }
    return members.map(asMember);
  }

  /** Drops a queued retry of an earlier leave, so it cannot remove a new membership of the connection. */
  forgetPendingLeave(appId: string, channel: string, connectionId: string): void {
    this.pendingLeaves.delete(`${streamKey(appId, channel)}\n${connectionId}`);
  }

  /**
   * Removes a connection from a presence channel and announces the user's departure. On a
   * backend fault the leave is queued and retried after each successful heartbeat (a leave
   * is idempotent per connection), so the member does not outlive the outage. Never throws.
   */
  async leave(key: string, connectionId: string): Promise<void> {
    const id = `${key}\n${connectionId}`;
    try {
      const held = this.gate?.pass();
      if (held != null) await held;
      const result = await this.backend.presence.leave(key, connectionId);
      const userId = this.joinedUsers.get(id)?.userId;
      this.pendingLeaves.delete(id);
      this.joinedUsers.delete(id);
      if (result?.lastForUser) {
        await this.announceDepartures([{ channel: key, userId: result.userId, version: result.version }]);
      } else if (result === null && userId !== undefined) {
        // Already gone: an earlier attempt that timed out ran late. Announce unless the
        // user is still there on another connection (a repeated member_removed is harmless).
        const { appId, channel } = parseStreamKey(key);
        const members = await this.members(appId, channel);
        if (!members.some((member) => member.userId === userId)) await this.announceDepartures([{ channel: key, userId }]);
      }
    } catch (error) {
      if (!this.pendingLeaves.has(id) && this.pendingLeaves.size >= MAX_PENDING_LEAVES) {
        this.logger.error({ key }, 'too many presence leaves waiting for the backend; dropping one (it stays until this node restarts)');
        this.joinedUsers.delete(id);
        return;
      }
      this.pendingLeaves.set(id, { key, connectionId });
      warnOutsideOutage(this.logger, this.backend.outage, 'failedPresenceLeaves', { err: error, key }, 'presence leave failed; retrying when the backend answers');
    }
  }

  /** Retries the leaves a backend fault held up (called after each successful heartbeat). */
  async retryPendingLeaves(): Promise<void> {
    for (const [id, { key, connectionId }] of [...this.pendingLeaves]) {
      // Skipped when the connection joined the channel again meanwhile (join drops it).
      if (this.pendingLeaves.has(id)) await this.leave(key, connectionId);
    }
  }

  get hasPendingLeaves(): boolean {
    return this.pendingLeaves.size > 0;
  }

  async members(appId: string, channel: string): Promise<Member[]> {
    return (await this.backend.presence.members(streamKey(appId, channel))).map(asMember);
  }

  /** Announces `member_removed` (and records the leave) for each user who left. */
  async announceDepartures(left: readonly Departure[]): Promise<void> {
    for (const { channel: key, userId, version } of left) {
      const { appId, channel } = parseStreamKey(key);
      this.observers?.notify('memberChanged', appId, channel, userId, false);
      // Not a channel: the `#online` set of signed-in users (webhooks) shares the presence store.
      if (channel.startsWith('#')) continue;
      void this.record(appId, channel, 'presence.leave', userId);
      await this.sendSignal({
        type: 'presence',
        change: { kind: 'member_removed', appId, channel, member: { userId, userInfo: null }, ...(version === undefined ? {} : { version }) },
      });
    }
  }

  /** Records a join or leave in presence history; never fails the presence change itself. */
  private async record(appId: string, channel: string, action: PresenceAction, userId: string, userInfo?: unknown): Promise<void> {
    const app = this.apps.findById(appId);
    if (app === undefined) return;
    try {
      await recordPresenceChange(this.backend.log, app, channel, action, userId, userInfo);
    } catch (error) {
      warnOutsideOutage(this.logger, this.backend.outage, 'failedPresenceHistory', { err: error, channel }, 'could not record presence history');
    }
  }
}

function asMember(entry: PresenceMember): Member {
  return { userId: entry.userId, userInfo: parseJson(entry.userInfo), version: entry.version };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
