/**
 * Per-app request rate limit of the signed REST API (`limits.restRequestsPerWindow`
 * requests per `limits.restWindowMs`), counted across every node of the cluster by the
 * core (core/rates.ts: blocks of requests taken from a window shared in the backend).
 *
 * It runs in preHandler, after authentication: an unsigned client cannot spend an app's
 * budget by flooding its URL (those requests are 401 before they are counted). Past the
 * limit the reply is the catalogue's RC_ERR_RATE_LIMITED (429) with `Retry-After`.
 * While this node holds requests of the window the check is synchronous (no promise).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { AppConfig } from '../../config/schema.ts';
import type { Core } from '../../core/core.ts';
import type { RateOutcome } from '../../core/rates.ts';
import { createErrorWith } from '../../errors.ts';
import { handedBackOf } from './hand-back.ts';

/** Takes one request of `app`'s window (its limit must be on). */
export function takeAppRate(core: Core, app: AppConfig): RateOutcome | Promise<RateOutcome> {
  const limits = app.limits;
  return core.rates.take(app.id, limits.restRequestsPerWindow, limits.restWindowMs);
}

/**
 * Installs the limit, unless no app has one: the hook would then run on every request
 * only to let it through (a reload that adds a limit reports it as needing a restart,
 * ops/reload.ts, and keeps it off until then).
 * Returns whether it did. A request the fast lane hands over with its request already
 * taken (hand-back.ts) is answered with that outcome: one request is counted once.
 */
export function registerAppRateLimit(app: FastifyInstance, core: Core, apps: readonly AppConfig[]): boolean {
  if (!apps.some((candidate) => candidate.limits.restRequestsPerWindow > 0)) return false;
  // Callback style: an async hook costs a promise and a microtask hop on every request.
  app.addHook('preHandler', (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const signed = request.signedApp;
    if (signed === null) return done();
    // The app as the running config has it (auth.ts looks it up per request).
    const limits = signed.limits;
    if (limits.restRequestsPerWindow === 0) return done();
    const outcome = handedBackOf(request.raw)?.rate ?? takeAppRate(core, signed);
    if (outcome === true) return done();
    if ('retryAfterMs' in outcome) return done(refusal(outcome, limits.restRequestsPerWindow, limits.restWindowMs));
    void outcome.then((settled) => done(settled === true ? undefined : refusal(settled, limits.restRequestsPerWindow, limits.restWindowMs)));
  });
  return true;
}

function refusal(outcome: Exclude<RateOutcome, true>, max: number, windowMs: number): Error {
  const retryAfterSec = Math.max(1, Math.ceil(outcome.retryAfterMs / 1000));
  return createErrorWith('RC_ERR_RATE_LIMITED', { details: { retryAfterSec } }, max, windowMs, retryAfterSec);
}
