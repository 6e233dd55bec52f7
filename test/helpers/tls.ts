/**
 * Test certificates, made at test time with the openssl CLI: a throwaway CA and server
 * certificates it signs for 127.0.0.1 and localhost. Clients trust the CA (`ca` option,
 * or NODE_EXTRA_CA_CERTS in a subprocess); nothing is written outside a temp folder.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  readonly dir: string;
  /** CA certificate path (PEM). */
  readonly caPath: string;
  readonly ca: string;
  /** Issues a server certificate for 127.0.0.1/localhost into `{name}.crt` / `{name}.key`; returns the paths. */
  issue(name: string, options?: { passphrase?: string; commonName?: string }): { cert: string; key: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'rc-tls-'));
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=roomcast test CA'], dir);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  const caPath = join(dir, 'ca.crt');
  return {
    dir,
    caPath,
    ca: readFileSync(caPath, 'utf8'),
    issue(name, options = {}) {
      const key = join(dir, `${name}.key`);
      const cert = join(dir, `${name}.crt`);
      openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.plain.key`, '-out', `${name}.csr`, '-subj', `/CN=${options.commonName ?? name}`], dir);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', 'san.ext'], dir);
      if (options.passphrase === undefined) openssl(['pkey', '-in', `${name}.plain.key`, '-out', `${name}.key`], dir);
      else openssl(['pkey', '-in', `${name}.plain.key`, '-out', `${name}.key`, '-aes256', '-passout', `pass:${options.passphrase}`], dir);
      return { cert, key };
    },
  };
}
