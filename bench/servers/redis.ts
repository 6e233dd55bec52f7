/**
 * A private redis-server for a benchmark, on a free loopback port, no persistence: never
 * the machine's own Redis on 6379.
 */
import { freePort, startServerProcess, type Proc } from '../lib/proc.ts';

export async function startRedis(): Promise<{ proc: Proc; url: string }> {
  const port = await freePort();
  const proc = await startServerProcess(
    'redis-server',
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'warning'],
    port,
    {},
    true,
  );
  return { proc, url: `redis://127.0.0.1:${port}` };
}
