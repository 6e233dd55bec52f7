/**
 * Users over the signed REST API (Pusher HTTP API "Terminate user connections"):
 *
 * POST /apps/:app_id/users/:user_id/terminate_connections   body {} or none → {}
 *   closes every connection the user signed in with, on every node.
 */
import type { FastifyRequest } from 'fastify';
import { requireSignedApp } from '../auth.ts';
import { assertUserId } from '../event-input.ts';
import { appIdParam } from '../schemas.ts';
import type { AppRoutePlugin } from './index.ts';

const terminateSchema = {
  params: {
    type: 'object',
    required: ['app_id', 'user_id'],
    properties: { app_id: appIdParam, user_id: { type: 'string', maxLength: 1000 } },
  },
  // The SDK sends {}; nothing in it is used (fields are tolerated for newer SDKs), but it must be an object.
  body: { type: 'object' },
};

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
};
