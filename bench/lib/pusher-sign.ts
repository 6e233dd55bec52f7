/**
 * Signs a REST request the Pusher way (auth_version 1.0): body_md5 = hex MD5 of the raw
 * body; auth_signature = hex HMAC-SHA256(secret, "METHOD\nPATH\nQUERY") where QUERY is
 * every parameter but auth_signature, keys lower-cased and sorted, joined as k=v&…
 * Written from the signed-HTTP-API document in /work/shared/seeds, for load generators.
 */
import { createHash, createHmac } from 'node:crypto';

export interface BenchApp {
  readonly id: string;
  readonly key: string;
  readonly secret: string;
}

export const BENCH_APP: BenchApp = { id: 'bench', key: 'bench-key', secret: 'bench-secret-0123456789' };

/** Path plus signed query string for `method path` with `body` (empty string for none). */
export function signedPath(app: BenchApp, method: string, path: string, body: string, timestampSec = Math.floor(Date.now() / 1000)): string {
  const params: [string, string][] = [
    ['auth_key', app.key],
    ['auth_timestamp', String(timestampSec)],
    ['auth_version', '1.0'],
  ];
  if (body !== '') params.push(['body_md5', createHash('md5').update(body).digest('hex')]);
  params.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const query = params.map(([key, value]) => `${key}=${value}`).join('&');
  const signature = createHmac('sha256', app.secret).update(`${method}\n${path}\n${query}`).digest('hex');
  return `${path}?${query}&auth_signature=${signature}`;
}

/** A signed `POST /apps/{id}/events` (path and body). */
export function signedEvent(app: BenchApp, channel: string, name: string, data: string): { path: string; body: string } {
  const body = JSON.stringify({ name, channel, data });
  return { path: signedPath(app, 'POST', `/apps/${app.id}/events`, body), body };
}

/**
 * The event data the benchmarks publish: `ts:<send time ms>:` then padding to `size` bytes.
 * Receivers find `ts:` in the raw frame, whatever escaping the protocol added around it.
 */
export function stampedData(sentAtMs: number, size: number): string {
  const head = `ts:${sentAtMs.toFixed(3)}:`;
  return size > head.length ? head + 'x'.repeat(size - head.length) : head;
}

const TS_MARK = Buffer.from('ts:');

/** The send time found in a received frame (Buffer or string), or NaN. */
export function readStamp(frame: Buffer | string): number {
  if (typeof frame === 'string') {
    const at = frame.indexOf('ts:');
    return at < 0 ? Number.NaN : Number.parseFloat(frame.slice(at + 3, at + 24));
  }
  const at = frame.indexOf(TS_MARK);
  return at < 0 ? Number.NaN : Number.parseFloat(frame.toString('latin1', at + 3, at + 24));
}

/** Every send time found in a text that may carry several messages (a Bayeux reply). */
export function readStamps(text: string, into: (sentAtMs: number) => void): number {
  let found = 0;
  let at = text.indexOf('ts:');
  while (at >= 0) {
    const value = Number.parseFloat(text.slice(at + 3, at + 24));
    if (Number.isFinite(value)) {
      into(value);
      found++;
    }
    at = text.indexOf('ts:', at + 3);
  }
  return found;
}
