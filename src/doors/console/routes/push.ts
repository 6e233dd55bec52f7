/**
 * The push page (read-only):
 *
 *   GET …/api/apps/:app/push/devices?client_id=&platform=&device_id=&cursor=
 *   GET …/api/apps/:app/push/subscriptions?channel=&client_id=&device_id=&cursor=
 *   GET …/api/apps/:app/push/credentials          → [{ platform, createdAt, fingerprint }] (never a value)
 *   GET …/api/apps/:app/push/publishes            → recent publishes with their status
 *   GET …/api/apps/:app/push/publishes/:id        → { status, devices: [{ deviceId, state, receipt }] }
 *
 * Without push stores (a backend without them) every route answers 503 RC_ERR_PUSH_UNAVAILABLE.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createError } from '../../../errors.ts';
import type { PushSource } from '../push-source.ts';
import type { ConsoleContext } from './context.ts';

const text = (max: number) => ({ type: 'string', minLength: 1, maxLength: max }) as const;
const appParams = { type: 'object', required: ['app'], properties: { app: text(100) } } as const;
const publishParams = { type: 'object', required: ['app', 'id'], properties: { app: text(100), id: text(128) } } as const;
const deviceQuery = { type: 'object', properties: { client_id: text(200), platform: text(20), device_id: text(128), cursor: text(512) } } as const;
const subscriptionQuery = { type: 'object', properties: { channel: text(200), client_id: text(200), device_id: text(128), cursor: text(512) } } as const;

export async function pushRoutes(scope: FastifyInstance, context: ConsoleContext): Promise<void> {
  const { core } = context;

  const sourceAnd = (request: FastifyRequest): { push: PushSource; appId: string } => {
    const { app } = request.params as { app: string };
    if (core.apps.findById(app) === undefined) throw createError('RC_ERR_CONSOLE_NOT_FOUND', 'app', JSON.stringify(app));
    if (context.push === null) throw createError('RC_ERR_PUSH_UNAVAILABLE', core.backend.driver);
    return { push: context.push, appId: app };
  };

  scope.get('/api/apps/:app/push/devices', { schema: { params: appParams, querystring: deviceQuery } }, async (request) => {
    const { push, appId } = sourceAnd(request);
    const q = request.query as { client_id?: string; platform?: string; device_id?: string; cursor?: string };
    return push.devices(appId, { clientId: q.client_id, platform: q.platform, deviceId: q.device_id }, q.cursor ?? '');
  });

  scope.get('/api/apps/:app/push/subscriptions', { schema: { params: appParams, querystring: subscriptionQuery } }, async (request) => {
    const { push, appId } = sourceAnd(request);
    const q = request.query as { channel?: string; client_id?: string; device_id?: string; cursor?: string };
    return push.subscriptions(appId, { channel: q.channel, clientId: q.client_id, deviceId: q.device_id }, q.cursor ?? '');
  });

  scope.get('/api/apps/:app/push/credentials', { schema: { params: appParams } }, async (request) => {
    const { push, appId } = sourceAnd(request);
    return push.credentials(appId);
  });

  scope.get('/api/apps/:app/push/publishes', { schema: { params: appParams } }, async (request) => {
    const { push, appId } = sourceAnd(request);
    return push.recent(appId);
  });

  scope.get('/api/apps/:app/push/publishes/:id', { schema: { params: publishParams } }, async (request) => {
    const { push, appId } = sourceAnd(request);
    return push.outcomes(appId, (request.params as { id: string }).id);
  });
}
