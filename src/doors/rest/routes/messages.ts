/**
 * Versioned messages over the signed REST API (issue 4):
 *
 * GET  /apps/:app_id/channels/:channel_name/messages/:message_serial           → latest visible state
 * GET  /apps/:app_id/channels/:channel_name/messages/:message_serial/versions  → { message_serial, items } oldest first
 * POST /apps/:app_id/channels/:channel_name/messages/:message_serial/update    { data?, description?, metadata?, client_id?, idempotency_key? | op_id? }
 * POST /apps/:app_id/channels/:channel_name/messages/:message_serial/delete    (same body; data ignored)
 * POST /apps/:app_id/channels/:channel_name/messages/:message_serial/append    (same body; data: the text to append)
 *   → { message_serial, version_serial, action, timestamp, data, duplicate }
 */
import type { MutationInput, MutationKind } from '../../../core/messages.ts';
import { requireSignedApp } from '../auth.ts';
import { appIdParam, assertKnownFields } from '../schemas.ts';
import type { AppRoutePlugin } from './route-plugin.ts';

interface MessageRouteParams {
  readonly app_id: string;
  readonly channel_name: string;
  readonly message_serial: string;
}

export const messageParams = {
  type: 'object',
  required: ['app_id', 'channel_name', 'message_serial'],
  properties: {
    app_id: appIdParam,
    channel_name: { type: 'string', minLength: 1, maxLength: 1000 },
    message_serial: { type: 'string', minLength: 1, maxLength: 40 },
  },
} as const;

/**
 * A change's body: only "an object" for ajv, which would coerce scalars (`"client_id": 5`
 * stored as `"5"`); the fields are known here and their types checked by the core
 * (`RC_ERR_MESSAGE_INVALID_BODY`). `data` is a string, or any JSON value for update.
 */
const mutationBody = { type: 'object' } as const;
const MUTATION_FIELDS: ReadonlySet<string> = new Set(['data', 'description', 'metadata', 'client_id', 'clientId', 'idempotency_key', 'op_id']);

const KINDS: readonly MutationKind[] = ['update', 'delete', 'append'];

export const messageRoutes: AppRoutePlugin = async (app, { core }) => {
  app.get('/apps/:app_id/channels/:channel_name/messages/:message_serial', { schema: { params: messageParams } }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { channel_name: channel, message_serial: serial } = request.params as MessageRouteParams;
    return core.messages.get(appConfig, channel, serial);
  });

  app.get('/apps/:app_id/channels/:channel_name/messages/:message_serial/versions', { schema: { params: messageParams } }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { channel_name: channel, message_serial: serial } = request.params as MessageRouteParams;
    return core.messages.versions(appConfig, channel, serial);
  });

  for (const kind of KINDS) {
    app.post(
      `/apps/:app_id/channels/:channel_name/messages/:message_serial/${kind}`,
      { schema: { params: messageParams, body: mutationBody } },
      async (request) => {
        const appConfig = requireSignedApp(request);
        const { channel_name: channel, message_serial: serial } = request.params as MessageRouteParams;
        assertKnownFields(request.body, MUTATION_FIELDS);
        return core.messages.mutate(appConfig, channel, serial, kind, (request.body ?? {}) as MutationInput);
      },
    );
  }
};
