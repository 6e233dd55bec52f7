/**
 * What the console's route modules share: the core, the auth pieces, the data sources
 * and the stream machinery. Built once by the plugin.
 */
import type { Core } from '../../../core/core.ts';
import type { AuditLog } from '../audit.ts';
import type { ConsoleCredentials } from '../credentials.ts';
import type { LoginLimiter } from '../login-limiter.ts';
import type { OverviewSource } from '../overview.ts';
import type { RequestLog } from '../request-log.ts';
import type { ConsoleSessions } from '../sessions.ts';
import type { SnapshotFeeds } from '../sse.ts';
import type { TailHub } from '../tail.ts';
import type { SpacesSource } from '../spaces.ts';
import type { PushSource } from '../push-source.ts';

export interface ConsoleContext {
  readonly core: Core;
  /** The console's URL path (`/console`), also the session cookie's path. */
  readonly path: string;
  readonly credentials: ConsoleCredentials;
  readonly sessions: ConsoleSessions;
  readonly limiter: LoginLimiter;
  readonly audit: AuditLog;
  readonly overview: OverviewSource;
  readonly spaces: SpacesSource;
  /** Null when the backend has no push stores (the page says so). */
  readonly push: PushSource | null;
  readonly requests: RequestLog;
  readonly feeds: SnapshotFeeds;
  readonly tail: TailHub;
  /** Open event streams, closed when the server stops. */
  readonly streams: Set<{ close(): void }>;
}
