// Prints a console password hash for `console.users[].passwordHash` (or the
// ROOMCAST_CONSOLE_ADMIN_PASSWORD_HASH variable): scrypt with N=32768, r=8, p=1 and a
// random salt, as `scrypt$N$r$p$salt$hash` (base64url). The password is read from the
// first argument, or from standard input (so it stays out of the shell history):
//
//   node scripts/console-password.mjs 'my password'
//   printf %s 'my password' | node scripts/console-password.mjs
import { randomBytes, scryptSync } from 'node:crypto';
import { readFileSync } from 'node:fs';

const password = process.argv[2] ?? readFileSync(0, 'utf8').replace(/\r?\n$/, '');
if (password.length === 0) {
  process.stderr.write('usage: node scripts/console-password.mjs PASSWORD   (or the password on standard input)\n');
  process.exit(2);
}
const N = 32768, r = 8, p = 1;
const salt = randomBytes(16);
const key = scryptSync(password, salt, 32, { N, r, p, maxmem: 256 * N * r });
process.stdout.write(`scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${key.toString('base64url')}\n`);
