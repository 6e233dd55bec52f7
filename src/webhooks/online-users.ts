/**
 * Cluster-wide "who is signed in": every signed-in WebSocket connection is a member of the
 * app's `#online` presence set in the backend (see ONLINE_USERS_CHANNEL), so the presence
 * store's own first/last answers say when a user's first connection anywhere opened and
 * their last one closed, and reaping a dead node removes its connections like any other
 * presence member. Only apps with a `user_online`/`user_offline` endpoint are tracked.
 *
 * A leave that fails on a backend fault is retried every `RETRY_MS` (a leave is
 * idempotent per connection); a user is never left online for good by a Redis blip.
 * This node remembers its own signed-in connections, so it can register them again when
 * its entries were removed while it was alive (`rejoinAll`, after a false reap).
 */
import type { Logger } from 'pino';
import type { PresenceStore } from '../backends/ports.ts';
import { streamKey } from '../core/channels.ts';
import { ONLINE_USERS_CHANNEL, type WebhookRecorder } from './recorder.ts';

const RETRY_MS = 2000;
/** Leaves waiting for the backend past which new ones are dropped (logged). */
const MAX_PENDING = 100_000;

export class OnlineUsers {
  /** `{appId}\n{connectionId}` → the stream to leave. */
  private readonly pendingLeaves = new Map<string, { readonly appId: string; readonly connectionId: string }>();
  /** `{appId}\n{connectionId}` → user id of this node's signed-in connections (tracked apps only). */
  private readonly local = new Map<string, { readonly appId: string; readonly connectionId: string; readonly userId: string }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly presence: PresenceStore,
    private readonly recorder: WebhookRecorder,
    /** The id this node's presence entries are stored under (the core's), read at each join. */
    private readonly nodeId: () => string,
    private readonly logger: Logger,
  ) {}

  signedIn(appId: string, connectionId: string, userId: string): void {
    if (!this.recorder.wantsUsers(appId)) return;
    const key = `${appId}\n${connectionId}`;
    this.pendingLeaves.delete(key);
    this.local.set(key, { appId, connectionId, userId });
    this.join(appId, connectionId, userId);
  }

  /** Registers every signed-in connection of this node again (its entries were removed while it lived). */
  rejoinAll(): void {
    for (const { appId, connectionId, userId } of this.local.values()) this.join(appId, connectionId, userId);
  }

  private join(appId: string, connectionId: string, userId: string): void {
    void this.presence
      .join(streamKey(appId, ONLINE_USERS_CHANNEL), { connectionId, nodeId: this.nodeId(), userId, userInfo: 'null' })
      .then(({ firstForUser }) => {
        if (firstForUser) this.recorder.userChanged(appId, userId, true);
      })
      .catch((error: unknown) => this.logger.warn({ err: error, app: appId }, 'a sign-in could not be recorded for user_online'));
  }

  signedOut(appId: string, connectionId: string): void {
    if (!this.recorder.wantsUsers(appId)) return;
    this.local.delete(`${appId}\n${connectionId}`);
    void this.leave(appId, connectionId);
  }

  start(): void {
    this.timer ??= setInterval(() => {
      for (const { appId, connectionId } of [...this.pendingLeaves.values()]) void this.leave(appId, connectionId);
    }, RETRY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private async leave(appId: string, connectionId: string): Promise<void> {
    const key = `${appId}\n${connectionId}`;
    try {
      const left = await this.presence.leave(streamKey(appId, ONLINE_USERS_CHANNEL), connectionId);
      this.pendingLeaves.delete(key);
      if (left?.lastForUser) this.recorder.userChanged(appId, left.userId, false);
    } catch (error) {
      if (!this.pendingLeaves.has(key) && this.pendingLeaves.size >= MAX_PENDING) {
        this.logger.error({ app: appId }, 'too many sign-outs waiting for the backend; one is dropped (swept when its node is reaped)');
        return;
      }
      if (!this.pendingLeaves.has(key)) this.logger.warn({ err: error, app: appId }, 'a sign-out could not be recorded; retrying');
      this.pendingLeaves.set(key, { appId, connectionId });
    }
  }
}
