/**
 * The operator console's configuration block (`console: { … }`): its type, its ajv
 * schema (one block, merged into `configSchema` by schema.ts) and its environment
 * overrides. The console is served only when it is enabled AND at least one admin
 * credential is configured; otherwise `/console` does not exist.
 */

/** Who may use the console, and how they prove it. Exactly one of `passwordHash` or `token`. */
export interface ConsoleUser {
  /** Login name (shown in the audit log). */
  name: string;
  /** `admin` may act (publish, purge, start/stop, issue/expire codes); `readonly` may only look. */
  role: 'admin' | 'readonly';
  /**
   * `scrypt$N$r$p$salt$hash` (salt and hash base64url), as printed by
   * `node scripts/console-password.mjs`. The password itself is never stored.
   */
  passwordHash?: string;
  /** A long random token used as the password (at least 24 characters). Never logged. */
  token?: string;
}

export interface ConsoleConfig {
  /** Serve the console. Default true; it is still off while no admin user is configured. */
  enabled: boolean;
  /** URL path the console is served under. Default `/console`. */
  path: string;
  /** Console users. Default [] (console off). Env: `ROOMCAST_CONSOLE_ADMIN_PASSWORD_HASH` or `ROOMCAST_CONSOLE_ADMIN_TOKEN` adds or replaces the user `admin`. */
  users: ConsoleUser[];
  /** A session unused for this long ends, in seconds. Default 3600 (one hour); a session never lives past 24 hours. */
  sessionIdleSec: number;
  /** Login attempts allowed per client address and per user name per minute, on each node. Default 10; past it: 429. */
  loginAttemptsPerMinute: number;
  /** Live-tail events pushed per channel page per second; the rest are counted as skipped. Default 50. */
  tailEventsPerSecond: number;
}

/** The `console` block of the config schema. */
export const consoleSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'The operator console in the browser (docs/operations.md, "Console"). Served only while at least one admin user is configured.',
  properties: {
    enabled: { type: 'boolean', default: true, description: 'Serve the console. It stays off while no `admin` user is configured.' },
    path: {
      type: 'string',
      pattern: '^/[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$',
      default: '/console',
      description: 'URL path the console is served under (no trailing slash).',
    },
    users: {
      type: 'array',
      default: [],
      maxItems: 100,
      description:
        'Console users: `{ name, role: "admin" | "readonly", passwordHash | token }`. `ROOMCAST_CONSOLE_ADMIN_PASSWORD_HASH` or `ROOMCAST_CONSOLE_ADMIN_TOKEN` adds (or replaces) the admin user `admin`.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'role'],
        oneOf: [
          { properties: { passwordHash: { type: 'string' } }, required: ['passwordHash'] },
          { properties: { token: { type: 'string' } }, required: ['token'] },
        ],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9_.@-]{1,64}$', description: 'Login name, shown in the audit log.' },
          role: { enum: ['admin', 'readonly'], description: '`admin` may act; `readonly` may only look.' },
          passwordHash: {
            type: 'string',
            pattern: '^scrypt\\$\\d+\\$\\d+\\$\\d+\\$[A-Za-z0-9_-]{16,}\\$[A-Za-z0-9_-]{32,}$',
            description: '`scrypt$N$r$p$salt$hash`, printed by `node scripts/console-password.mjs`.',
          },
          token: { type: 'string', minLength: 24, maxLength: 512, description: 'A long random token used as the password. Never logged.' },
        },
      },
    },
    sessionIdleSec: { type: 'integer', minimum: 60, maximum: 86400, default: 3600, 'x-unit': 's', description: 'A session unused for this long ends (a session never lives past 24 hours).' },
    loginAttemptsPerMinute: { type: 'integer', minimum: 1, maximum: 1000, default: 10, 'x-unit': 'attempts/min', description: 'Login attempts per client address and per user name per minute, on each node; past it 429.' },
    tailEventsPerSecond: { type: 'integer', minimum: 1, maximum: 1000, default: 50, 'x-unit': 'events/s', description: 'Live-tail events pushed per open channel page per second; the rest are counted as skipped.' },
  },
} as const;

/**
 * Applies `ROOMCAST_CONSOLE_ADMIN_PASSWORD_HASH` / `ROOMCAST_CONSOLE_ADMIN_TOKEN` to a raw
 * config object before validation: the user `admin` (role admin) gets that credential,
 * replacing one of the same name from the file.
 */
export function applyConsoleEnv(candidate: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  const passwordHash = env.ROOMCAST_CONSOLE_ADMIN_PASSWORD_HASH;
  const token = env.ROOMCAST_CONSOLE_ADMIN_TOKEN;
  if (!passwordHash && !token) return;
  const current = candidate.console;
  const block = (current !== null && typeof current === 'object' && !Array.isArray(current) ? current : {}) as Record<string, unknown>;
  const users = Array.isArray(block.users) ? (block.users as unknown[]).filter((user) => (user as { name?: unknown } | null)?.name !== 'admin') : [];
  users.push(passwordHash ? { name: 'admin', role: 'admin', passwordHash } : { name: 'admin', role: 'admin', token });
  block.users = users;
  candidate.console = block;
}

/** True when the console should be served: enabled, with at least one admin user. */
export function consoleIsServed(config: ConsoleConfig): boolean {
  return config.enabled && config.users.some((user) => user.role === 'admin');
}
