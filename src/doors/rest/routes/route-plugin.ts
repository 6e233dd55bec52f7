/** The shape every route plugin of the signed REST API shares (index.ts registers them). */
import type { FastifyPluginAsync } from 'fastify';
import type { Core } from '../../../core/core.ts';
import type { PushService } from '../../../push/service.ts';

/** What a reload reports (ops/reload.ts produces it; app.ts passes the function). */
export interface ReloadReport {
  readonly node: string;
  readonly config_hash: string;
  readonly previous_hash: string;
  /** Settings that changed and now apply. */
  readonly changed: readonly string[];
  /** Settings that changed in the file but apply only after a restart. */
  readonly restart_required: readonly string[];
}

/**
 * The options app.ts gives the rest door, handed unchanged to every route plugin. A
 * route family that needs a service of its own (e.g. push) adds an optional field here
 * and app.ts passes it.
 */
export interface AppRouteOptions {
  readonly core: Core;
  /** Push notifications; null/absent when the backend has no push stores (push routes answer 503). */
  readonly push?: PushService | null;
  /** Re-reads this node's config file (`POST /apps/:app_id/server/reload`); absent: that route answers 422. */
  readonly reload?: () => Promise<ReloadReport>;
}

/** A route plugin of the signed REST API. */
export type AppRoutePlugin = FastifyPluginAsync<AppRouteOptions>;
