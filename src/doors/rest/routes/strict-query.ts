/**
 * Unknown query parameters are refused, never ignored: a client that sends a parameter
 * the route does not read (a typo, another server's name for a filter) would otherwise
 * get an answer to a question it did not ask — `history?start_serial=2` returning the
 * whole history, say. Each signed route accepts the parameters its `querystring` schema
 * lists, plus the signature's own (`auth_key`, `auth_timestamp`, `auth_version`,
 * `body_md5`, `auth_signature`); anything else is 400 `RC_ERR_HTTP_UNKNOWN_PARAMETER`
 * naming every unknown parameter and the ones the route takes.
 *
 * The check is a preValidation hook added to each route by an `onRoute` hook, so it runs
 * after the signature check (an unsigned request is a 401 whatever its query) and a new
 * route gets it by declaring its `querystring` schema.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify';
import { createError } from '../../../errors.ts';

/** The signature's parameters, accepted on every signed route (compared lower-cased, as the signature reads them). */
export const SIGNATURE_PARAMS: ReadonlySet<string> = new Set(['auth_key', 'auth_timestamp', 'auth_version', 'body_md5', 'auth_signature']);

/** Longest parameter name echoed in the error message. */
const ECHO_LIMIT = 40;

/** The parameters a route's `querystring` schema names. */
function declaredParams(route: RouteOptions): string[] {
  const schema = route.schema?.querystring as { properties?: Record<string, unknown> } | undefined;
  return Object.keys(schema?.properties ?? {});
}

/**
 * True when every parameter is one of the signature's. The signed parameters are the
 * query's own names, decoded and lower-cased (signature.ts); the signature's names are
 * accepted in any case, so no name of the query can then be unknown.
 */
export function onlySignatureParams(params: ReadonlyMap<string, string>): boolean {
  for (const name of params.keys()) if (!SIGNATURE_PARAMS.has(name)) return false;
  return true;
}

/** Adds the unknown-parameter check to every route this instance (and its children) declares. */
export function refuseUnknownQueryParams(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const declared = declaredParams(route);
    const allowed = new Set(declared);
    const takes = declared.length === 0 ? 'no parameters besides the signature' : declared.join(', ');
    // Callback style: it runs on every signed request (an async hook costs a promise).
    const check = (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
      // The usual signed request carries the signature's parameters only: its verified
      // (lower-cased) parameters show it without walking the parsed query.
      if (request.signedParams !== null && onlySignatureParams(request.signedParams)) return done();
      const query = request.query as Record<string, unknown> | undefined;
      if (query === undefined || query === null) return done();
      let unknown: string[] | null = null;
      for (const name in query) {
        // The signature's own names usually come lower-case: no toLowerCase for them.
        if (!Object.hasOwn(query, name) || allowed.has(name) || SIGNATURE_PARAMS.has(name) || SIGNATURE_PARAMS.has(name.toLowerCase())) continue;
        (unknown ??= []).push(name);
      }
      if (unknown === null) return done();
      done(createError('RC_ERR_HTTP_UNKNOWN_PARAMETER', unknown.map((name) => JSON.stringify(name.slice(0, ECHO_LIMIT))).join(', '), takes));
    };
    const existing = route.preValidation === undefined ? [] : Array.isArray(route.preValidation) ? route.preValidation : [route.preValidation];
    route.preValidation = [...existing, check];
  });
}
