/**
 * Per-app request rate limit of the signed REST API (`limits.restRequestsPerWindow`
 * requests per `limits.restWindowMs`), with @fastify/rate-limit keyed by app id.
 *
 * It runs in preHandler, after authentication: an unsigned client cannot spend an app's
 * budget by flooding its URL (those requests are 401 before they are counted). Past the
 * limit the reply is the catalogue's RC_ERR_RATE_LIMITED (429) with `Retry-After`.
 *
 * The counters live in this process: with N nodes behind a balancer an app gets up to
 * N × the limit. Doors may not reach Redis (layering), and a shared limiter would add a
 * backend round trip to every request; see the issue notes if that becomes necessary.
 */
import rateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppConfig } from '../../config/schema.ts';
import { createErrorWith } from '../../errors.ts';

/** Max distinct apps whose counters are kept (LRU); far above any real deployment. */
const MAX_TRACKED_APPS = 10_000;

/**
 * Registers the limiter, unless no app has a limit: the plugin's hook would then run on
 * every request only to let it through (apps come from the config file and do not change
 * while the process runs).
 */
export async function registerAppRateLimit(app: FastifyInstance, apps: readonly AppConfig[]): Promise<void> {
  if (!apps.some((candidate) => candidate.limits.restRequestsPerWindow > 0)) return;
  const options: RateLimitPluginOptions = {
    global: true,
    hook: 'preHandler',
    cache: MAX_TRACKED_APPS,
    // Routes outside /apps/:app_id/ and apps with a limit of 0 are not limited.
    allowList: (request: FastifyRequest) => request.signedApp === null || request.signedApp.limits.restRequestsPerWindow === 0,
    keyGenerator: (request: FastifyRequest) => request.signedApp?.id ?? '',
    max: (request: FastifyRequest) => request.signedApp?.limits.restRequestsPerWindow ?? 0,
    timeWindow: (request: FastifyRequest) => request.signedApp?.limits.restWindowMs ?? 1000,
    errorResponseBuilder: (request, context) => {
      const retryAfterSec = Math.max(1, Math.ceil(context.ttl / 1000));
      const windowMs = request.signedApp?.limits.restWindowMs ?? 0;
      return createErrorWith('RC_ERR_RATE_LIMITED', { details: { retryAfterSec } }, context.max, windowMs, retryAfterSec);
    },
  };
  await app.register(rateLimit, options);
}
