/**
 * Signed REST requests for tests that need to bend the rules (wrong secret, altered
 * body, stale timestamp…), where the official SDK would refuse or cannot be steered.
 */
import { signQuery } from '../../src/doors/rest/signature.ts';
import { TEST_APP } from './app.ts';

export interface SignedCallOptions {
  readonly params?: Record<string, string>;
  /** A JSON value (serialised) or raw text sent as is. */
  readonly body?: unknown;
  /** Sign with this body instead of the one sent (a body changed after signing). */
  readonly signedBody?: string;
  readonly key?: string;
  readonly secret?: string;
  /** Unix seconds to sign with; default now. */
  readonly timestamp?: number;
  /** Rewrites the signed query before sending (a query changed after signing). */
  readonly alterQuery?: (query: string) => string;
  /** Content type to send; null sends none at all. Default application/json. */
  readonly contentType?: string | null;
}

export interface CallResult {
  readonly status: number;
  readonly headers: Headers;
  /** Parsed JSON body (null when the body is not JSON). */
  readonly json: Record<string, unknown> & { code?: string; message?: string };
  readonly text: string;
}

/** Sends a signed request to `baseUrl + path` (path includes `/apps/{id}`). */
export async function signedCall(baseUrl: string, method: string, path: string, options: SignedCallOptions = {}): Promise<CallResult> {
  const text =
    options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const credentials = { key: options.key ?? TEST_APP.key, secret: options.secret ?? TEST_APP.secret };
  let query = signQuery(credentials, method, path, options.params ?? {}, options.signedBody ?? text, options.timestamp);
  if (options.alterQuery) query = options.alterQuery(query);
  const headers: Record<string, string> = {};
  if (text !== undefined && options.contentType !== null) headers['content-type'] = options.contentType ?? 'application/json';
  // Bytes, not a string: fetch would add its own text/plain content type to a string.
  const body = text === undefined ? {} : { body: Buffer.from(text) };
  const response = await fetch(`${baseUrl}${path}?${query}`, { method, headers, ...body });
  const bodyText = await response.text();
  let json: CallResult['json'] = {};
  try {
    json = JSON.parse(bodyText) as CallResult['json'];
  } catch {
    json = {};
  }
  return { status: response.status, headers: response.headers, json, text: bodyText };
}
