/**
 * Annotations over the signed REST API (issue 4):
 *
 * POST   /apps/:app_id/channels/:channel_name/messages/:message_serial/annotations
 *        { type, name?, client_id? | clientId?, count?, data? } → { annotation, summary }
 * GET    /apps/:app_id/channels/:channel_name/messages/:message_serial/annotations?type=&name=&client_id=
 *        → { message_serial, items }
 * DELETE /apps/:app_id/channels/:channel_name/messages/:message_serial/annotations/:annotation_serial
 *        → { deleted, annotation_serial, summary }   (a repeated delete answers deleted: false)
 */
import type { AnnotationInput } from '../../../core/annotations.ts';
import { requireSignedApp } from '../auth.ts';
import { appIdParam, assertKnownFields } from '../schemas.ts';
import type { AppRoutePlugin } from './route-plugin.ts';
import { messageParams } from './messages.ts';

interface AnnotationRouteParams {
  readonly app_id: string;
  readonly channel_name: string;
  readonly message_serial: string;
  readonly annotation_serial?: string;
}

/**
 * An annotation's body: only "an object" for ajv, which would coerce scalars; the fields
 * are known here and their types checked by the core (`RC_ERR_ANNOTATION_INVALID`,
 * `RC_ERR_ANNOTATION_INVALID_TYPE`).
 */
const annotationBody = { type: 'object' } as const;
const ANNOTATION_FIELDS: ReadonlySet<string> = new Set(['type', 'name', 'client_id', 'clientId', 'count', 'data']);

const listQuery = {
  type: 'object',
  properties: {
    type: { type: 'string', maxLength: 200 },
    name: { type: 'string', maxLength: 200 },
    client_id: { type: 'string', maxLength: 200 },
  },
} as const;

const annotationParams = {
  type: 'object',
  required: ['app_id', 'channel_name', 'message_serial', 'annotation_serial'],
  properties: {
    ...messageParams.properties,
    app_id: appIdParam,
    annotation_serial: { type: 'string', minLength: 1, maxLength: 40 },
  },
} as const;

export const annotationRoutes: AppRoutePlugin = async (app, { core }) => {
  const path = '/apps/:app_id/channels/:channel_name/messages/:message_serial/annotations';

  app.post(path, { schema: { params: messageParams, body: annotationBody } }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { channel_name: channel, message_serial: serial } = request.params as AnnotationRouteParams;
    assertKnownFields(request.body, ANNOTATION_FIELDS);
    return core.annotations.create(appConfig, channel, serial, request.body as AnnotationInput);
  });

  app.get(path, { schema: { params: messageParams, querystring: listQuery } }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { channel_name: channel, message_serial: serial } = request.params as AnnotationRouteParams;
    const query = request.query as { type?: string; name?: string; client_id?: string };
    return core.annotations.list(appConfig, channel, serial, {
      ...(query.type !== undefined ? { type: query.type } : {}),
      ...(query.name !== undefined ? { name: query.name } : {}),
      ...(query.client_id !== undefined ? { clientId: query.client_id } : {}),
    });
  });

  app.delete(`${path}/:annotation_serial`, { schema: { params: annotationParams } }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { channel_name: channel, message_serial: serial, annotation_serial: annotationSerial } = request.params as AnnotationRouteParams;
    return core.annotations.delete(appConfig, channel, serial, annotationSerial!);
  });
};
