/**
 * Users over the signed REST API (Pusher HTTP API "Terminate user connections"):
 *
 * POST /apps/:app_id/users/:user_id/terminate_connections   body {} or none → {}
 *   closes every connection the user signed in with, on every node.
 */
import { createError } from '../../../core/errors.ts';
import { requireSignedApp } from '../auth.ts';
import { appIdParam } from '../schemas.ts';
import type { AppRoutePlugin } from './index.ts';

/** Pusher user ids: 1–200 characters, no control characters. */
const MAX_USER_ID_LENGTH = 200;
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** Throws RC_ERR_USER_INVALID_ID unless `userId` is a usable user id. */
export function assertUserId(userId: string): void {
  if (userId.length === 0 || userId.length > MAX_USER_ID_LENGTH || CONTROL_CHARACTERS.test(userId)) {
    throw createError('RC_ERR_USER_INVALID_ID', JSON.stringify(userId.slice(0, 60)));
  }
}

const terminateSchema = {
  params: {
    type: 'object',
    required: ['app_id', 'user_id'],
    properties: { app_id: appIdParam, user_id: { type: 'string', maxLength: 1000 } },
  },
};

export const userRoutes: AppRoutePlugin = async (app, { core }) => {
  app.post('/apps/:app_id/users/:user_id/terminate_connections', { schema: terminateSchema }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { user_id: userId } = request.params as { user_id: string };
    assertUserId(userId);
    await core.terminateUser(appConfig.id, userId);
    return {};
  });
};
