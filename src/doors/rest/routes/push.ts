/**
 * Push notifications over the signed REST API, under `/apps/:app_id/push/…`. Paths are
 * documented in camelCase (`deviceRegistrations`) and also answer in snake_case
 * (`device_registrations`); bodies accept snake_case fields and camelCase aliases.
 *
 * Schemas check shapes only (object bodies, id lengths, query types): field rules that
 * have their own catalogue code (unknown platform, missing token, oversized payload,
 * template placeholders) are checked by the push service, so clients get that code and
 * not a generic validation error.
 *
 *   POST   push/credentials                      add (apns | fcm | web)        → 201 redacted
 *   GET    push/credentials                      list (secrets redacted)
 *   POST   push/credentials/web/generate         generate + store a VAPID pair → 201 (public key)
 *   DELETE push/credentials/:platform                                          → 204
 *   POST   push/templates · GET push/templates · GET|DELETE push/templates/:template_id
 *   POST   push/deviceRegistrations              register                      → 201
 *   GET    push/deviceRegistrations              list (client_id, platform, cursor, limit)
 *   GET|DELETE push/deviceRegistrations/:device_id
 *   DELETE push/deviceRegistrations?client_id=…  delete a client's devices
 *   POST   push/channelSubscriptions             subscribe                     → 201
 *   GET    push/channelSubscriptions             list (channel, device_id, client_id, cursor, limit)
 *   DELETE push/channelSubscriptions?channel=…&device_id=…|client_id=…         → 204
 *   POST   push/publish                          async 202 {publish_id} · sync 200 {publish_id, status}
 *   GET    push/publish/:publish_id/status
 *   DELETE push/scheduled/:publish_id            cancel a scheduled publish
 *   POST   push/deliveryStatus                   provider / app delivery callbacks
 *   GET    push/deadLetters                      deliveries that exhausted their retries
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify';
import { requireSignedApp } from '../auth.ts';
import type { AppConfig } from '../../../config/schema.ts';
import type { Core } from '../../../core/core.ts';
import { createError } from '../../../errors.ts';
import { pageLimit } from '../../../push/fields.ts';
import type { PushService } from '../../../push/service.ts';
import type { ChannelSubscription, Device } from '../../../push/types.ts';
import type { Template } from '../../../push/templates.ts';

export interface PushRouteOptions {
  readonly core: Core;
  /** Null or absent when the backend has no push stores: every route answers 503. */
  readonly push?: PushService | null;
  /** The request's app. Default: the signed app (`requireSignedApp`); unit tests without signing pass their own. */
  readonly appOf?: (request: FastifyRequest) => AppConfig;
}

const MAX_PAGE = 1000;
const idParam = { type: 'string', minLength: 1, maxLength: 128 } as const;
const appIdParam = { type: 'string', minLength: 1, maxLength: 100 } as const;
/** Any JSON object; the service validates the fields (each with its own error code). */
const objectBody = { type: 'object', maxProperties: 64 } as const;
const params = (...names: string[]) => ({
  type: 'object',
  required: ['app_id', ...names],
  properties: Object.fromEntries([['app_id', appIdParam], ...names.map((name) => [name, idParam])]),
});
const pageQuery = (...filters: string[]) => ({
  type: 'object',
  properties: {
    cursor: { type: 'string', maxLength: 512 },
    limit: { type: 'string', pattern: '^[0-9]{1,4}$' },
    ...Object.fromEntries(filters.map((name) => [name, { type: 'string', minLength: 1, maxLength: 1000 }])),
  },
});

/** Both spellings of a path segment: `deviceRegistrations` and `device_registrations`. */
function spellings(path: string): string[] {
  const snake = path.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
  return snake === path ? [path] : [path, snake];
}

export const pushRoutes: FastifyPluginAsync<PushRouteOptions> = async (app: FastifyInstance, options: PushRouteOptions) => {
  const { core } = options;
  const appOf = options.appOf ?? requireSignedApp;
  const service = (): PushService => {
    if (options.push === undefined || options.push === null) throw createError('RC_ERR_PUSH_UNAVAILABLE', core.backend.driver);
    return options.push;
  };
  const route = (
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    schema: RouteShorthandOptions['schema'],
    handler: (request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig, push: PushService) => Promise<unknown>,
  ): void => {
    for (const url of spellings(`/apps/:app_id/push/${path}`)) {
      app.route({ method, url, schema: schema ?? {}, handler: async (request, reply) => handler(request, reply, appOf(request), service()) });
    }
  };
  const created = <T>(reply: FastifyReply, body: T): T => {
    void reply.code(201);
    return body;
  };
  const noContent = (reply: FastifyReply): FastifyReply => reply.code(204).send();
  const query = (request: FastifyRequest): Record<string, string | undefined> => request.query as Record<string, string | undefined>;

  // --- credentials
  route('POST', 'credentials', { params: params(), body: objectBody }, async (request, reply, appConfig, push) =>
    created(reply, await push.credentials.add(appConfig.id, request.body)),
  );
  route('GET', 'credentials', { params: params() }, async (_request, _reply, appConfig, push) => ({ items: await push.credentials.list(appConfig.id) }));
  route('POST', 'credentials/web/generate', { params: params() }, async (request, reply, appConfig, push) =>
    created(reply, await push.credentials.generateVapid(appConfig.id, request.body ?? {})),
  );
  route('DELETE', 'credentials/:platform', { params: params('platform') }, async (request, reply, appConfig, push) => {
    await push.credentials.remove(appConfig.id, (request.params as { platform: string }).platform);
    return noContent(reply);
  });

  // --- templates
  route('POST', 'templates', { params: params(), body: objectBody }, async (request, reply, appConfig, push) =>
    created(reply, templateView(await push.templates.create(appConfig.id, request.body))),
  );
  route('GET', 'templates', { params: params() }, async (_request, _reply, appConfig, push) => ({ items: (await push.templates.list(appConfig.id)).map(templateView) }));
  route('GET', 'templates/:template_id', { params: params('template_id') }, async (request, _reply, appConfig, push) =>
    templateView(await push.templates.get(appConfig.id, (request.params as { template_id: string }).template_id)),
  );
  route('DELETE', 'templates/:template_id', { params: params('template_id') }, async (request, reply, appConfig, push) => {
    await push.templates.remove(appConfig.id, (request.params as { template_id: string }).template_id);
    return noContent(reply);
  });

  // --- device registrations
  route('POST', 'deviceRegistrations', { params: params(), body: objectBody }, async (request, reply, appConfig, push) =>
    created(reply, deviceView(await push.devices.register(appConfig.id, request.body))),
  );
  route('GET', 'deviceRegistrations', { params: params(), querystring: pageQuery('client_id', 'clientId', 'platform') }, async (request, _reply, appConfig, push) => {
    const q = query(request);
    const clientId = q.client_id ?? q.clientId;
    const page = await push.devices.list(
      appConfig.id,
      { ...(clientId === undefined ? {} : { clientId }), ...(q.platform === undefined ? {} : { platform: q.platform }) },
      q.cursor ?? '',
      pageLimit(q.limit, 100, MAX_PAGE),
    );
    return { items: page.items.map(deviceView), next_cursor: page.cursor === '' ? null : page.cursor };
  });
  route('DELETE', 'deviceRegistrations', { params: params(), querystring: pageQuery('client_id', 'clientId') }, async (request, _reply, appConfig, push) => {
    const clientId = query(request).client_id ?? query(request).clientId;
    if (clientId === undefined) throw createError('RC_ERR_PUSH_INVALID_REQUEST', 'deleting device registrations needs ?client_id=');
    return { deleted: await push.devices.removeByClient(appConfig.id, clientId) };
  });
  route('GET', 'deviceRegistrations/:device_id', { params: params('device_id') }, async (request, _reply, appConfig, push) =>
    deviceView(await push.devices.get(appConfig.id, (request.params as { device_id: string }).device_id)),
  );
  route('DELETE', 'deviceRegistrations/:device_id', { params: params('device_id') }, async (request, reply, appConfig, push) => {
    await push.devices.remove(appConfig.id, (request.params as { device_id: string }).device_id);
    return noContent(reply);
  });

  // --- channel subscriptions
  route('POST', 'channelSubscriptions', { params: params(), body: objectBody }, async (request, reply, appConfig, push) =>
    created(reply, subscriptionView(await push.subscriptions.subscribe(appConfig.id, request.body))),
  );
  const subscriptionFilters = ['channel', 'device_id', 'deviceId', 'client_id', 'clientId'];
  route('GET', 'channelSubscriptions', { params: params(), querystring: pageQuery(...subscriptionFilters) }, async (request, _reply, appConfig, push) => {
    const q = query(request);
    const deviceId = q.device_id ?? q.deviceId;
    const clientId = q.client_id ?? q.clientId;
    const filter = { ...(q.channel === undefined ? {} : { channel: q.channel }), ...(deviceId === undefined ? {} : { deviceId }), ...(clientId === undefined ? {} : { clientId }) };
    const page = await push.subscriptions.list(appConfig.id, filter, q.cursor ?? '', pageLimit(q.limit, 100, MAX_PAGE));
    return { items: page.items.map(subscriptionView), next_cursor: page.cursor === '' ? null : page.cursor };
  });
  route('DELETE', 'channelSubscriptions', { params: params(), querystring: pageQuery(...subscriptionFilters) }, async (request, reply, appConfig, push) => {
    // The filter comes in the query (DELETE bodies are often dropped by proxies), or a JSON body.
    await push.subscriptions.unsubscribe(appConfig.id, request.body ?? { ...query(request) });
    return noContent(reply);
  });

  // --- publish, status, cancel, callbacks
  route('POST', 'publish', { params: params(), body: objectBody }, async (request, reply, appConfig, push) => {
    const result = await push.publish(appConfig, request.body);
    void reply.code(result.httpStatus);
    return result.body;
  });
  route('GET', 'publish/:publish_id/status', { params: params('publish_id') }, async (request, _reply, appConfig, push) =>
    push.status(appConfig.id, (request.params as { publish_id: string }).publish_id),
  );
  route('DELETE', 'scheduled/:publish_id', { params: params('publish_id') }, async (request, _reply, appConfig, push) =>
    push.cancel(appConfig.id, (request.params as { publish_id: string }).publish_id),
  );
  route('POST', 'deliveryStatus', { params: params(), body: objectBody }, async (request, _reply, appConfig, push) => push.deliveryStatus(appConfig.id, request.body));
  route('GET', 'deadLetters', { params: params() }, async (_request, _reply, appConfig, push) => ({ items: await push.deadLetters(appConfig.id) }));
};

function deviceView(device: Device): Record<string, unknown> {
  return {
    device_id: device.deviceId,
    client_id: device.clientId ?? null,
    platform: device.platform,
    ...(device.providerToken === undefined ? {} : { provider_token: device.providerToken }),
    ...(device.subscription === undefined ? {} : { subscription: { endpoint: device.subscription.endpoint } }),
    metadata: device.metadata,
    state: device.state,
    ...(device.invalidReason === undefined ? {} : { invalid_reason: device.invalidReason }),
    created_at: new Date(device.createdAt).toISOString(),
    updated_at: new Date(device.updatedAt).toISOString(),
  };
}

function subscriptionView(subscription: ChannelSubscription): Record<string, unknown> {
  return {
    channel: subscription.channel,
    ...(subscription.deviceId === undefined ? {} : { device_id: subscription.deviceId }),
    ...(subscription.clientId === undefined ? {} : { client_id: subscription.clientId }),
    created_at: new Date(subscription.createdAt).toISOString(),
  };
}

function templateView(template: Template): Record<string, unknown> {
  const text = (texts: Readonly<Record<string, string>>): unknown => (Object.keys(texts).length === 1 && texts[''] !== undefined ? texts[''] : texts);
  return {
    template_id: template.templateId,
    title: text(template.title),
    body: text(template.body),
    data: template.data,
    default_locale: template.defaultLocale === '' ? null : template.defaultLocale,
    created_at: new Date(template.createdAt).toISOString(),
  };
}
