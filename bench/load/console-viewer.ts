/**
 * Load generator: an operator console left open, as the browser holds it: a logged-in
 * session and the page's one event stream (SSE), read and counted, nothing rendered.
 *
 * Commands: login {baseUrl, name, password} · open {path} (e.g. `overview/stream`) ·
 * snapshot → {events, bytes} since open · close.
 */
import { serveWorker } from '../lib/worker.ts';

let baseUrl = '';
let cookie = '';
let controller: AbortController | null = null;
let events = 0;
let bytes = 0;

async function login(args: { baseUrl: string; name: string; password: string }): Promise<void> {
  baseUrl = args.baseUrl;
  const response = await fetch(`${baseUrl}/console/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: args.name, password: args.password }),
  });
  if (response.status !== 200) throw new Error(`console login answered ${response.status}: ${await response.text()}`);
  cookie = (response.headers.get('set-cookie') ?? '').split(';')[0]!;
}

async function open(args: { path: string }): Promise<void> {
  close();
  events = 0;
  bytes = 0;
  const own = new AbortController();
  controller = own;
  const response = await fetch(`${baseUrl}/console/api/${args.path}`, { headers: { cookie }, signal: own.signal });
  if (response.status !== 200) throw new Error(`console stream answered ${response.status}`);
  void (async () => {
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        bytes += chunk.byteLength;
        const text = Buffer.from(chunk).toString('utf8');
        events += text.split('\nevent: ').length - 1 + (text.startsWith('event: ') ? 1 : 0);
      }
    } catch {
      // aborted by close()
    }
  })();
}

function close(): void {
  controller?.abort();
  controller = null;
}

serveWorker({ login, open, snapshot: () => ({ events, bytes }), close });
