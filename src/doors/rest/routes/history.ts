/**
 * Channel history over the signed REST API:
 *
 * GET  /apps/:app_id/channels/:channel_name/history?limit=&direction=&start=&end=&from_serial=&to_serial=&cursor=
 *   (Sockudo's names are aliases: start_serial = from_serial, end_serial = to_serial,
 *   start_time_ms = start, end_time_ms = end; direction backwards / forwards)
 *   → { items: [ … ], has_more, next_cursor }
 *   (a cursor or serial bound from another stream epoch: 409 RC_ERR_HISTORY_EPOCH_MISMATCH)
 * GET  /apps/:app_id/channels/:channel_name/history/state
 *   → { channel, stream_id, epoch, last_serial, oldest_serial, newest_serial, retained_count, retained_bytes }
 * POST /apps/:app_id/channels/:channel_name/history/purge
 *   { confirm_channel, mode?: all | before_serial | before_time_ms, before_serial?, before_time_ms?,
 *     confirm_operation?: "purge", reason?, requested_by? }
 *   → { purged: true, mode, before_serial, before_time_ms, purged_messages, reason?, requested_by?, state }
 * POST /apps/:app_id/channels/:channel_name/history/reset
 *   { confirm_channel, confirm_operation?: "reset", reason?, requested_by? }  → { reset: true, state }
 * GET  /apps/:app_id/channels/:channel_name/presence/history            (same query and reply as history)
 * GET  /apps/:app_id/channels/:channel_name/presence/history/state
 *
 * Validation of values lives in the core (`parseHistoryQuery`, `parsePurgeRequest`), so
 * every door reports the same catalogue codes; the schemas only bound sizes. Unknown
 * query parameters (strict-query.ts) and body fields are refused, never ignored: a purge
 * that misread its bound would delete what the caller meant to keep.
 */
import { parseHistoryQuery, parsePurgeRequest } from '../../../core/history.ts';
import { createError } from '../../../errors.ts';
import { requireSignedApp } from '../auth.ts';
import { assertKnownFields, channelParams } from '../schemas.ts';
import type { AppRoutePlugin } from './route-plugin.ts';

interface ChannelRouteParams {
  readonly app_id: string;
  readonly channel_name: string;
}

const historyQuery = {
  type: 'object',
  properties: {
    limit: { type: 'string', maxLength: 8 },
    direction: { type: 'string', maxLength: 20 },
    start: { type: 'string', maxLength: 20 },
    end: { type: 'string', maxLength: 20 },
    from_serial: { type: 'string', maxLength: 40 },
    to_serial: { type: 'string', maxLength: 40 },
    cursor: { type: 'string', maxLength: 512 },
    start_serial: { type: 'string', maxLength: 40 },
    end_serial: { type: 'string', maxLength: 40 },
    start_time_ms: { type: 'string', maxLength: 20 },
    end_time_ms: { type: 'string', maxLength: 20 },
  },
} as const;

/** Field types are checked in code (ajv would coerce `"before_serial": 3` into a string). */
const confirmBody = { type: 'object' } as const;

/** Sockudo's operator fields: a confirmation of the operation's name, and who asked why (echoed, logged). */
const OPERATOR_FIELDS = ['confirm_channel', 'confirm_operation', 'reason', 'requested_by'] as const;
const PURGE_FIELDS: ReadonlySet<string> = new Set([...OPERATOR_FIELDS, 'mode', 'before_serial', 'before_time_ms']);
const RESET_FIELDS: ReadonlySet<string> = new Set(OPERATOR_FIELDS);

/**
 * Checks a destructive request's body: only `allowed` fields; `confirm_operation`, when
 * given, names this operation; `reason` and `requested_by` are short strings.
 */
function operatorBody(body: unknown, allowed: ReadonlySet<string>, operation: string): Record<string, unknown> {
  const fields = (body ?? {}) as Record<string, unknown>;
  assertKnownFields(fields, allowed);
  if (fields.confirm_operation !== undefined && fields.confirm_operation !== operation) {
    throw createError('RC_ERR_HISTORY_INVALID_OPERATION', operation, `confirm_operation must be "${operation}" for this route`);
  }
  for (const field of ['reason', 'requested_by'] as const) {
    const value = fields[field];
    if (value !== undefined && (typeof value !== 'string' || value.length > 500)) {
      throw createError('RC_ERR_HISTORY_INVALID_OPERATION', operation, `${field} must be a string of at most 500 characters`);
    }
  }
  return fields;
}

/** `reason` / `requested_by` as given, for the reply. */
function operatorEcho(fields: Record<string, unknown>): Record<string, string> {
  const echo: Record<string, string> = {};
  if (typeof fields.reason === 'string') echo.reason = fields.reason;
  if (typeof fields.requested_by === 'string') echo.requested_by = fields.requested_by;
  return echo;
}

export const historyRoutes: AppRoutePlugin = async (app, { core }) => {
  app.get('/apps/:app_id/channels/:channel_name/history', { schema: { params: channelParams, querystring: historyQuery } }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { channel_name: channel } = request.params as ChannelRouteParams;
    return core.history.page(appConfig, channel, parseHistoryQuery(request.query as Record<string, unknown>));
  });

  app.get('/apps/:app_id/channels/:channel_name/history/state', { schema: { params: channelParams } }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { channel_name: channel } = request.params as ChannelRouteParams;
    return core.history.state(appConfig, channel);
  });

  app.post('/apps/:app_id/channels/:channel_name/history/purge', { schema: { params: channelParams, body: confirmBody } }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { channel_name: channel } = request.params as ChannelRouteParams;
    const body = operatorBody(request.body, PURGE_FIELDS, 'purge');
    const outcome = await core.history.purgeWith(appConfig, channel, body.confirm_channel, parsePurgeRequest(body));
    request.log.info({ channel, mode: outcome.mode, purged: outcome.purged_messages, ...operatorEcho(body) }, 'history purged');
    const { state, ...rest } = outcome;
    return { purged: true, ...rest, ...operatorEcho(body), state };
  });

  app.post('/apps/:app_id/channels/:channel_name/history/reset', { schema: { params: channelParams, body: confirmBody } }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { channel_name: channel } = request.params as ChannelRouteParams;
    const body = operatorBody(request.body, RESET_FIELDS, 'reset');
    const state = await core.history.reset(appConfig, channel, body.confirm_channel);
    request.log.info({ channel, ...operatorEcho(body) }, 'history reset');
    return { reset: true, ...operatorEcho(body), state };
  });

  app.get(
    '/apps/:app_id/channels/:channel_name/presence/history',
    { schema: { params: channelParams, querystring: historyQuery } },
    async (request) => {
      const appConfig = requireSignedApp(request);
      const { channel_name: channel } = request.params as ChannelRouteParams;
      return core.history.presencePage(appConfig, channel, parseHistoryQuery(request.query as Record<string, unknown>));
    },
  );

  app.get('/apps/:app_id/channels/:channel_name/presence/history/state', { schema: { params: channelParams } }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { channel_name: channel } = request.params as ChannelRouteParams;
    return core.history.state(appConfig, channel, true);
  });
};
