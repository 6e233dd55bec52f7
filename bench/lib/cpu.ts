/**
 * CPU and memory of benchmark processes, read from /proc (Linux): each process's
 * utime+stime over a measurement window, and the whole machine's busy share over the
 * same window, so a figure can say "the server used 97 % of a core, the subscribers
 * 130 %, and something else on the machine 40 %" (the 2 cores are shared).
 */
import { readFileSync } from 'node:fs';

/** USER_HZ: the kernel reports per-process CPU times in these ticks; 100 on every Linux that matters. */
const TICKS_PER_SECOND = 100;

function processTicks(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces: split after its closing parenthesis.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of the man page (utime, stime) are 11 and 12 here, counted from field 3.
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return Number.NaN;
  }
}

function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.reduce((sum, value) => sum + value, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

/** Resident set size of a process in bytes (VmRSS), NaN when it has gone. */
export function rssBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? Number.NaN : Number(match[1]) * 1024;
  } catch {
    return Number.NaN;
  }
}

export interface CpuReport {
  /** Per named group: percent of one core (100 = one full core) averaged over the window. */
  readonly groups: Record<string, number>;
  /** Per named group: CPU seconds used over the window, unrounded (for per-operation figures at low usage). */
  readonly cpuSeconds: Record<string, number>;
  /** The whole machine's busy share in percent of ALL cores (100 = every core busy). */
  readonly machineBusyPercent: number;
  /** Busy share of the machine not explained by our processes, in percent of one core. */
  readonly otherPercent: number;
  readonly seconds: number;
  /**
   * What most likely bounded the figure: the busiest single process (a node process
   * cannot use more than ~100 % of one core) or, when every core was busy, the machine.
   */
  readonly limit: string;
}

/** Starts a window over groups of pids (e.g. { server: [pid], subscribers: [p1, p2] }); `stop()` reports it. */
export function startCpuWindow(groups: Record<string, readonly number[]>): { stop(): CpuReport } {
  const startedAt = process.hrtime.bigint();
  const startMachine = machineTicks();
  const start = new Map<number, number>();
  for (const pids of Object.values(groups)) for (const pid of pids) start.set(pid, processTicks(pid));
  return {
    stop(): CpuReport {
      const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
      const endMachine = machineTicks();
      const result: Record<string, number> = {};
      const cpuSeconds: Record<string, number> = {};
      let ours = 0;
      for (const [name, pids] of Object.entries(groups)) {
        let ticks = 0;
        for (const pid of pids) {
          const used = processTicks(pid) - (start.get(pid) ?? Number.NaN);
          if (Number.isFinite(used)) ticks += used;
        }
        ours += ticks;
        cpuSeconds[name] = ticks / TICKS_PER_SECOND;
        result[name] = Math.round((ticks / TICKS_PER_SECOND / seconds) * 100);
      }
      const busy = endMachine.busy - startMachine.busy;
      const total = endMachine.total - startMachine.total;
      const machineBusyPercent = total > 0 ? Math.round((busy / total) * 100) : Number.NaN;
      let limit = '';
      let busiest = 0;
      for (const [name, pids] of Object.entries(groups)) {
        const perProcess = (result[name] ?? 0) / Math.max(1, pids.length);
        if (perProcess > busiest) {
          busiest = perProcess;
          limit = `${name} ${Math.round(perProcess)}%${pids.length > 1 ? '/proc' : ''}`;
        }
      }
      if (machineBusyPercent >= 95) limit = `machine ${machineBusyPercent}% (${limit})`;
      else if (busiest < 85) limit = `none ≥85% (${limit})`;
      return {
        limit,
        groups: result,
        cpuSeconds,
        machineBusyPercent,
        otherPercent: Math.max(0, Math.round(((busy - ours) / TICKS_PER_SECOND / seconds) * 100)),
        seconds: Math.round(seconds * 100) / 100,
      };
    },
  };
}
