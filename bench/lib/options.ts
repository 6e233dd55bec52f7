/**
 * Command-line options: `--name value` flags, each also settable as BENCH_NAME (upper
 * case, dashes as underscores), e.g. `--phase-sec 3` or BENCH_PHASE_SEC=3.
 */
export class Options {
  private readonly flags = new Map<string, string>();
  readonly positional: string[] = [];

  constructor(argv: readonly string[]) {
    for (let index = 0; index < argv.length; index++) {
      const arg = argv[index] ?? '';
      if (arg.startsWith('--')) {
        const eq = arg.indexOf('=');
        if (eq > 0) this.flags.set(arg.slice(2, eq), arg.slice(eq + 1));
        else {
          const next = argv[index + 1];
          if (next !== undefined && !next.startsWith('--')) {
            this.flags.set(arg.slice(2), next);
            index++;
          } else this.flags.set(arg.slice(2), 'true');
        }
      } else this.positional.push(arg);
    }
  }

  string(name: string, fallback: string): string {
    return this.flags.get(name) ?? process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`] ?? fallback;
  }

  number(name: string, fallback: number): number {
    const value = Number(this.string(name, String(fallback)));
    if (!Number.isFinite(value)) throw new Error(`--${name} must be a number`);
    return value;
  }

  list(name: string, fallback: readonly string[]): string[] {
    return this.string(name, fallback.join(','))
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
  }

  numbers(name: string, fallback: readonly number[]): number[] {
    return this.list(name, fallback.map(String)).map(Number);
  }
}
