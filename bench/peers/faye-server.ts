/**
 * Peer for the Bayeux benchmark: the npm `faye` server (NodeAdapter, default memory
 * engine) mounted at /api/v1/bayeux, so the same lean long-poll clients talk to it as to
 * roomcast (minus the login, which Faye has no notion of). `timeout` (how long a
 * /meta/connect is held) matches roomcast's default of 25 s. Env: PORT, FAYE_TIMEOUT_SEC.
 */
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { serveWorker } from '../lib/worker.ts';

/** The server half of faye's API that this peer uses (faye ships no types). */
interface FayeServerModule {
  NodeAdapter: new (options: { mount: string; timeout: number }) => { attach(server: Server): void };
}
const faye = createRequire(import.meta.url)('faye') as FayeServerModule;

const port = Number(process.env.PORT ?? 0);
const timeoutSec = Number(process.env.FAYE_TIMEOUT_SEC ?? 25);

const bayeux = new faye.NodeAdapter({ mount: '/api/v1/bayeux', timeout: timeoutSec });
const server = createServer();
bayeux.attach(server);
server.listen(port, '127.0.0.1', () => {
  serveWorker({ stats: () => ({ timeoutSec }) });
});
