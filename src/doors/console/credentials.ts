/**
 * Console credentials: scrypt password hashes (`scrypt$N$r$p$salt$hash`, base64url) and
 * tokens, checked in constant time. The config never holds a password, only its hash;
 * a token is compared through SHA-256 digests so its length does not leak either.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { ConsoleUser } from '../../config/console.ts';

/** scrypt cost used for new hashes: N=2^15, r=8, p=1 (about 32 MiB and ~50 ms per check). */
const DEFAULT_COST = { N: 32768, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;

function scryptAsync(password: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_LENGTH, { N, r, p, maxmem: 256 * N * r }, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** Hashes a password for `console.users[].passwordHash`. */
export async function hashConsolePassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const { N, r, p } = DEFAULT_COST;
  const key = await scryptAsync(password, salt, N, r, p);
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** True when `password` matches the stored hash. Malformed hashes never match. */
export async function verifyPasswordHash(stored: string, password: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (!Number.isInteger(N) || N < 2 || N > 2 ** 20 || (N & (N - 1)) !== 0 || !(r >= 1 && r <= 32) || !(p >= 1 && p <= 16)) return false;
  const expected = Buffer.from(parts[5]!, 'base64url');
  const key = await scryptAsync(password, Buffer.from(parts[4]!, 'base64url'), N, r, p);
  return expected.length === key.length && timingSafeEqual(expected, key);
}

function sameSecret(a: string, b: string): boolean {
  const left = createHash('sha256').update(a, 'utf8').digest();
  const right = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(left, right);
}

/**
 * Finds the user a login names and checks the secret. Unknown names cost a hash check
 * too (against a dummy hash), so response time does not reveal which names exist.
 */
export class ConsoleCredentials {
  private readonly users = new Map<string, ConsoleUser>();
  private dummyHash: Promise<string> | null = null;

  constructor(users: readonly ConsoleUser[]) {
    for (const user of users) this.users.set(user.name, user);
  }

  /** The user when the name and secret match, else null. */
  async verify(name: string, secret: string): Promise<ConsoleUser | null> {
    const user = this.users.get(name);
    if (user === undefined) {
      this.dummyHash ??= hashConsolePassword(randomBytes(16).toString('hex'));
      await verifyPasswordHash(await this.dummyHash, secret);
      return null;
    }
    if (user.passwordHash !== undefined) return (await verifyPasswordHash(user.passwordHash, secret)) ? user : null;
    return user.token !== undefined && sameSecret(user.token, secret) ? user : null;
  }

  /** The configured user of that name (a session's user may have been removed by a reload). */
  find(name: string): ConsoleUser | undefined {
    return this.users.get(name);
  }
}
