/**
 * Runs the `roomcast` command as a subprocess (bin/roomcast.mjs: the sources through tsx
 * here, or dist/ with ROOMCAST_RUN=dist), never blocking this process's event loop, so
 * an in-process server keeps answering. Every child is killed by its PID at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/roomcast.mjs', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON (with --json), or undefined. */
  readonly json: unknown;
}

/** Environment for a CLI child: no inherited ROOMCAST_* or PORT settings, plus `extra`. */
export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('ROOMCAST_') && !['PORT', 'HOST', 'REDIS_URL', 'LOG_LEVEL'].includes(key)) env[key] = value;
  for (const [key, value] of Object.entries(extra)) if (value !== undefined) env[key] = value;
  return env;
}

/** Runs to completion (bounded by `timeoutMs`, then killed). `bin` runs another copy's bin/roomcast.mjs. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv, options: { timeoutMs?: number; input?: string; cwd?: string; bin?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.bin ?? BIN, ...args], { env, cwd: options.cwd ?? process.cwd(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`roomcast ${args.join(' ')} did not finish within ${options.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A long-running CLI child (tail, bot tail, serve) whose output lines can be awaited. */
export class CliProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly errLines: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly waiters = new Set<() => void>();

  /** `cwd`: the child's working folder (where config/default.json is looked for); default this process's. */
  constructor(args: readonly string[], env: NodeJS.ProcessEnv, cwd: string = process.cwd()) {
    this.child = spawn(process.execPath, [BIN, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const split = (target: string[]) => {
      let rest = '';
      return (chunk: Buffer) => {
        rest += chunk.toString();
        const parts = rest.split('\n');
        rest = parts.pop() ?? '';
        target.push(...parts);
        for (const wake of this.waiters) wake();
      };
    };
    this.child.stdout!.on('data', split(this.lines));
    this.child.stderr!.on('data', split(this.errLines));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  /** Resolves with the first line (stdout, or stderr with `stream: 'stderr'`) matching, or rejects after `timeoutMs`. */
  waitForLine(match: (line: string) => boolean, options: { timeoutMs?: number; stream?: 'stdout' | 'stderr' } = {}): Promise<string> {
    const source = options.stream === 'stderr' ? this.errLines : this.lines;
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const line = source.find(match);
        if (line === undefined) return false;
        this.waiters.delete(wake);
        clearTimeout(timer);
        resolve(line);
        return true;
      };
      const wake = (): void => void check();
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new Error(`no matching line within ${options.timeoutMs ?? 30_000} ms\nstdout: ${this.lines.join('\n')}\nstderr: ${this.errLines.join('\n')}`));
      }, options.timeoutMs ?? 30_000);
      this.waiters.add(wake);
      check();
    });
  }

  /** Stops the child by its PID (SIGINT first, as Ctrl-C). */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGINT');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}
