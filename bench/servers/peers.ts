/**
 * Starts a peer server (bench/peers/*) as a worker process on a free loopback port.
 */
import { freePort, startWorker } from '../lib/proc.ts';
import type { RunningServer } from './roomcast.ts';

export async function startPeer(name: string, script: string, env: Record<string, string> = {}, nodeArgs: readonly string[] = []): Promise<RunningServer> {
  const port = await freePort();
  const proc = await startWorker(name, script, { ...env, PORT: String(port) }, true, nodeArgs);
  return { proc, port, origin: `http://127.0.0.1:${port}` };
}
