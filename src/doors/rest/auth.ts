/**
 * Authentication of the signed REST API: every route under `/apps/:app_id/` gets one
 * preValidation hook that resolves the app (404 unknown, 403 disabled), verifies the
 * request signature over the raw body bytes (401 naming the failed check) and decorates
 * the request with the app. Route files then read it with `requireSignedApp(request)`.
 *
 * The hook is attached by an `onRoute` hook, so route plugins registered inside the rest
 * door (history, messages, push, …) are signed without doing anything. A route under
 * `/apps/` that does not use the `:app_id` parameter is a programming error and fails
 * at start-up rather than being served unsigned.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify';
import type { AppConfig } from '../../config/schema.ts';
import type { Core } from '../../core/core.ts';
import { createError, createErrorWith } from '../../errors.ts';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../json-depth.ts';
import { verifySignedRequest } from './signature.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The app a signed `/apps/:app_id/…` request authenticated as; null on other routes. */
    signedApp: AppConfig | null;
  }
}

/** Route path prefix of every signed route. */
export const SIGNED_PREFIX = '/apps/:app_id/';

/** Raw body bytes per request, kept by the rest door's body reader for `body_md5`. */
const rawBodies = new WeakMap<FastifyRequest, Buffer>();

/** The raw bytes of a request's body (empty when it had none). */
export function rawBodyOf(request: FastifyRequest): Buffer {
  return rawBodies.get(request) ?? EMPTY_BODY;
}

const EMPTY_BODY = Buffer.alloc(0);

/**
 * The authenticated app of a signed request. Only call it from routes under
 * `/apps/:app_id/`; elsewhere it throws (a programming error, answered as a 500).
 */
export function requireSignedApp(request: FastifyRequest): AppConfig {
  const app = request.signedApp;
  if (app === null) throw createErrorWith('RC_ERR_INTERNAL', { cause: new Error(`route ${request.routeOptions.url} is not signed`) });
  return app;
}

/**
 * Installs the body parser and the signing hook in the rest door's encapsulation
 * context (nothing here leaks to the bot API or the ops routes).
 */
export function installSignedRequests(app: FastifyInstance, core: Core): void {
  app.decorateRequest('signedApp', null);
  const parseBody = installRawBodyReader(app);

  // Callback style, not async: it runs on every signed request and does no I/O.
  // Authentication comes before the body is parsed: a request with a wrong key, a wrong
  // signature or a changed body is a 401 (404/403 for an unknown/disabled app) whatever
  // its body holds, never a 400 about JSON the caller was not entitled to send.
  const verify = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    try {
      const { app_id: appId } = request.params as { app_id: string };
      const appConfig = core.apps.requireEnabled(appId);
      const url = request.raw.url ?? request.url;
      const at = url.indexOf('?');
      verifySignedRequest(
        {
          method: request.method,
          path: at < 0 ? url : url.slice(0, at),
          query: at < 0 ? '' : url.slice(at + 1),
          body: rawBodyOf(request),
        },
        appConfig,
      );
      request.signedApp = appConfig;
    } catch (error) {
      done(error as Error);
      return;
    }
    parseBody(request, reply, done);
  };

  app.addHook('onRoute', (route: RouteOptions) => {
    const existing = route.preValidation === undefined ? [] : Array.isArray(route.preValidation) ? route.preValidation : [route.preValidation];
    if (!route.url.startsWith('/apps/')) {
      route.preValidation = [parseBody, ...existing];
      return;
    }
    if (!route.url.startsWith(SIGNED_PREFIX) && route.url !== SIGNED_PREFIX.slice(0, -1)) {
      throw new Error(`rest door: route ${route.url} is under /apps/ but not ${SIGNED_PREFIX}…; it would be served unsigned`);
    }
    // Authentication (then body parsing) runs first, before the route's own preValidation.
    route.preValidation = [verify, ...existing];
  });
}

/**
 * Reads every body as bytes and keeps them: the signature covers the MD5 of the exact bytes
 * sent, which re-serialising a parsed object cannot reproduce. The content-type parser
 * only reads; the returned hook parses the text as JSON once the request is
 * authenticated. Any content type is read as JSON (some server SDKs omit
 * `Content-Type`); a body that is not JSON is `RC_ERR_HTTP_BAD_JSON`. Prototype
 * poisoning is rejected by Fastify's own safe JSON parser, which does the parsing.
 */
function installRawBodyReader(app: FastifyInstance): (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  // Bytes, not text: `body_md5` is the MD5 of the bytes sent, and a body that is not valid
  // UTF-8 would hash differently once decoded (a correctly signed one would get a 401).
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
    rawBodies.set(request, body as Buffer);
    done(null, undefined);
  });
  return (request, _reply, done) => {
    const bytes = rawBodyOf(request);
    if (bytes.length === 0) {
      done();
      return;
    }
    const text = bytes.toString('utf8');
    if (jsonTooDeep(text)) {
      done(createError('RC_ERR_JSON_TOO_DEEP', MAX_JSON_DEPTH));
      return;
    }
    parseJson(request, text, (error, value) => {
      if (error) {
        done(createErrorWith('RC_ERR_HTTP_BAD_JSON', { cause: error }, describeJsonProblem(text)));
        return;
      }
      request.body = value;
      done();
    });
  };
}

/** A short, log-safe description of why a body failed to parse. */
function describeJsonProblem(text: string): string {
  try {
    JSON.parse(text);
    return 'the body contains a forbidden __proto__ or constructor.prototype key';
  } catch (error) {
    return error instanceof Error ? error.message.slice(0, 200) : 'unparseable';
  }
}

