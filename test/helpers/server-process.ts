/**
 * A roomcast server as a child process (compiled `node dist/main.js`, or `roomcast
 * serve`), for tests of what ships: it parses the JSON log for the "roomcast listening"
 * line to learn the address, and is stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** `http(s)://127.0.0.1:port` of the main port. */
  readonly url: string;
  readonly port: number;
  /** The plain-HTTP port's address when `server.httpPort` is set. */
  readonly plainUrl: string | null;
  /** Every log line so far (JSON text); the last `logLimit` ones when that option is set. */
  readonly logs: string[];
  /** SIGTERM, then waits for the exit (SIGKILL after 15 s); resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface ServerProcessOptions {
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** How long to wait for the "roomcast listening" line. Default 60 s. */
  readonly timeoutMs?: number;
  /** Keep only this many recent log lines (a long run under load logs every request). Default: all. */
  readonly logLimit?: number;
}

export async function startServerProcess(args: readonly string[], options: ServerProcessOptions): Promise<ServerProcess> {
  const child = spawn(process.execPath, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const listening = new Promise<{ address: string; plainHttp?: string }>((resolve, reject) => {
    let rest = '';
    const timer = setTimeout(() => {
      // A process that never said it listens is not handed to the caller: stop it here, or it outlives the test.
      child.kill('SIGKILL');
      reject(new Error(`server did not start within ${options.timeoutMs ?? 60_000} ms\n${logs.join('\n')}\n${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      rest += chunk.toString();
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        logs.push(line);
        if (options.logLimit !== undefined && logs.length > options.logLimit * 2) logs.splice(0, logs.length - options.logLimit);
        if (line.includes('"roomcast listening"')) {
          clearTimeout(timer);
          resolve(JSON.parse(line) as { address: string; plainHttp?: string });
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening\n${logs.join('\n')}\n${stderr}`));
    });
  });
  const { address, plainHttp } = await listening;
  return {
    child,
    pid: child.pid!,
    url: address,
    port: Number(new URL(address).port),
    plainUrl: plainHttp ?? null,
    logs,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
