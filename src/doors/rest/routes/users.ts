/**
 * Users over the signed REST API:
 *
 * POST /apps/:app_id/users/:user_id/terminate_connections   body {} or none → {}
 *   closes every connection the user signed in with, on every node (Pusher HTTP API
 *   "Terminate user connections").
 * POST /apps/:app_id/users/:user_id/events   { name, data? } → {}
 *   sends the event to every connection the user signed in with (`pusher:signin`), on
 *   every node, on the user's `#server-to-user-{user_id}` channel. The same delivery as
 *   publishing to that pseudo-channel (the SDKs' `sendToUser`): no serial, no history.
 */
import type { FastifyRequest } from 'fastify';
import { requireSignedApp } from '../auth.ts';
import { assertUserId, prepareEvent, SERVER_TO_USER_PREFIX } from '../event-input.ts';
import { appIdParam, assertKnownFields } from '../schemas.ts';
import type { AppRoutePlugin } from './route-plugin.ts';

const userParams = {
  type: 'object',
  required: ['app_id', 'user_id'],
  properties: { app_id: appIdParam, user_id: { type: 'string', maxLength: 1000 } },
} as const;

const terminateSchema = {
  params: userParams,
  // The SDK sends {}; nothing in it is used (fields are tolerated for newer SDKs), but it must be an object.
  body: { type: 'object' },
};

/** Field types are checked by prepareEvent (see schemas.ts for why not by ajv). */
const userEventSchema = { params: userParams, body: { type: 'object', required: ['name'] } };

/** The fields a user event may carry; anything else is refused rather than ignored. */
const USER_EVENT_FIELDS: ReadonlySet<string> = new Set(['name', 'data']);

export const userRoutes: AppRoutePlugin = async (app, { core }) => {
  const options = {
    schema: terminateSchema,
    // Some clients send no body at all; treat that as the SDK's `{}`.
    preValidation: async (request: FastifyRequest) => {
      if (request.body === undefined) request.body = {};
    },
  };
  app.post('/apps/:app_id/users/:user_id/terminate_connections', options, async (request) => {
    const appConfig = requireSignedApp(request);
    const { user_id: userId } = request.params as { user_id: string };
    assertUserId(userId);
    await core.terminateUser(appConfig.id, userId);
    return {};
  });

  app.post('/apps/:app_id/users/:user_id/events', { schema: userEventSchema }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { user_id: userId } = request.params as { user_id: string };
    assertUserId(userId);
    const body = request.body as Record<string, unknown>;
    assertKnownFields(body, USER_EVENT_FIELDS);
    // The user's pseudo-channel: prepareEvent checks the name and the data size as for any event.
    const event = prepareEvent(appConfig, { name: body.name, data: body.data, channel: `${SERVER_TO_USER_PREFIX}${userId}` });
    await core.sendToUser(appConfig.id, userId, event.input.name, event.data);
    return {};
  });
};
