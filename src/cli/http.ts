/**
 * HTTP for the CLI: node's http/https (so a `--ca` is honoured for https://), signed
 * requests built with the server's own signer, and the mapping of outcomes to exit codes:
 * a network failure is EXIT.unreachable, an HTTP error is EXIT.failed with the server's
 * error body.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { signQuery } from '../doors/rest/signature.ts';
import { CliError, EXIT, type AppCredentials, type Target } from './context.ts';

/** How long one request may take before the CLI gives up, in milliseconds. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface HttpResult {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: unknown;
}

export interface RequestSpec {
  readonly method: string;
  /** Absolute URL. */
  readonly url: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** PEM CA to trust. */
  readonly ca?: string;
  /** Aborts the request (a stopped long-poll). */
  readonly signal?: AbortSignal;
}

/** Sends one request; rejects with a CliError (EXIT.unreachable) when no answer comes. */
export function send(spec: RequestSpec): Promise<HttpResult> {
  const url = new URL(spec.url);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers: Record<string, string> = { ...spec.headers };
  if (spec.body !== undefined) headers['content-length'] = String(Buffer.byteLength(spec.body));
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { method: spec.method, headers, timeout: REQUEST_TIMEOUT_MS, ...(spec.ca === undefined ? {} : { ca: spec.ca }), ...(spec.signal === undefined ? {} : { signal: spec.signal }) }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', (error) => reject(unreachable(spec.url, error)));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json });
      });
    });
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    outgoing.on('error', (error) => reject(unreachable(spec.url, error)));
    outgoing.end(spec.body);
  });
}

/** The error for a server that could not be reached at `url` (EXIT.unreachable), naming its origin and the cause. */
export function unreachable(url: string, error: Error): CliError {
  const code = (error as NodeJS.ErrnoException).code;
  return new CliError(`cannot reach ${new URL(url).origin}: ${code === undefined ? error.message : `${code} ${error.message}`}`, EXIT.unreachable);
}

/** Splits `path?query` and returns the path and its parameters. */
export function splitPath(pathAndQuery: string): { path: string; params: Record<string, string> } {
  const at = pathAndQuery.indexOf('?');
  const path = at < 0 ? pathAndQuery : pathAndQuery.slice(0, at);
  const params: Record<string, string> = {};
  if (at >= 0) for (const [key, value] of new URLSearchParams(pathAndQuery.slice(at + 1))) params[key] = value;
  return { path: path.startsWith('/') ? path : `/${path}`, params };
}

/** The signed URL of a request (the body, when any, is covered by `body_md5`). */
export function signedUrl(credentials: AppCredentials, method: string, pathAndQuery: string, body?: string): string {
  const { path, params } = splitPath(pathAndQuery);
  const query = signQuery({ key: credentials.key, secret: credentials.secret }, method.toUpperCase(), path, params, body);
  return `${credentials.url}${path}?${query}`;
}

/** `/apps/{id}/…` for a path relative to the app (`channels` → `/apps/app-1/channels`); absolute paths pass through. */
export function appPath(credentials: AppCredentials, path: string): string {
  return path.startsWith('/') ? path : `/apps/${encodeURIComponent(credentials.appId)}/${path}`;
}

/** Sends a signed request and returns the answer, whatever its status. */
export function signedSend(credentials: AppCredentials, method: string, pathAndQuery: string, body?: unknown): Promise<HttpResult> {
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const upper = method.toUpperCase();
  return send({
    method: upper,
    url: signedUrl(credentials, upper, pathAndQuery, text),
    ...(text === undefined ? {} : { body: text, headers: { 'content-type': 'application/json' } }),
    ...(credentials.ca === undefined ? {} : { ca: credentials.ca }),
  });
}

/** Fails with EXIT.failed and the server's error body unless the status is 2xx; returns the JSON body. */
export function expectOk(result: HttpResult): unknown {
  if (result.status >= 200 && result.status < 300) return result.json ?? result.text;
  const body = result.json as { code?: string; message?: string } | undefined;
  const detail = body?.code !== undefined ? `${body.code}: ${body.message ?? ''}` : result.text.slice(0, 500);
  throw new CliError(`HTTP ${result.status} ${detail}`.trim(), EXIT.failed, result.json ?? { status: result.status, body: result.text });
}

/** An unsigned GET (ops routes: /stats, /up, /ready). */
export function plainGet(target: Target, path: string): Promise<HttpResult> {
  return send({ method: 'GET', url: `${target.url}${path}`, ...(target.ca === undefined ? {} : { ca: target.ca }) });
}
