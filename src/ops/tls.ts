/**
 * TLS on the main port: reads `server.tls` (PEM files), and swaps the certificate of the
 * running HTTPS server with `server.setSecureContext` when asked (SIGHUP, config reload)
 * or when the files change on disk (polled every `watchIntervalMs`, so a renewal that
 * replaces a file or a symlink is seen). Open connections keep the context they
 * negotiated; new handshakes get the new one. A file set that does not load (missing,
 * key not matching the certificate, wrong passphrase) is refused with one log line and
 * the server keeps the certificate it has.
 */
import { X509Certificate } from 'node:crypto';
import { unwatchFile, watchFile, readFileSync, type Stats } from 'node:fs';
import { createSecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import type { TlsConfig } from '../config/schema.ts';
import { createErrorWith } from '../errors.ts';

/** Settles a burst of file writes (cert then key) into one reload. */
const SETTLE_MS = 200;

/** Reads the files and checks they make a usable context; throws RC_ERR_TLS_UNUSABLE naming the problem. */
export function readTlsOptions(config: TlsConfig): SecureContextOptions {
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw createErrorWith('RC_ERR_TLS_UNUSABLE', { cause: error }, `${what} ${path}`, (error as Error).message);
    }
  };
  const options: SecureContextOptions = {
    cert: read('certificate', config.cert),
    key: read('key', config.key),
    ...(config.ca === undefined ? {} : { ca: read('CA', config.ca) }),
    ...(config.passphrase === undefined ? {} : { passphrase: config.passphrase }),
  };
  try {
    createSecureContext(options);
  } catch (error) {
    // OpenSSL's words: "key values mismatch", "bad decrypt", "no start line"…
    throw createErrorWith('RC_ERR_TLS_UNUSABLE', { cause: error }, `files ${config.cert} + ${config.key}`, (error as Error).message);
  }
  return options;
}

/** What a log line says about a certificate: subject and expiry, never key material. */
function describeCertificate(options: SecureContextOptions): Record<string, string> {
  try {
    const certificate = new X509Certificate(options.cert as Buffer);
    return { subject: certificate.subject.replace(/\n/g, ', '), validTo: certificate.validTo, fingerprint256: certificate.fingerprint256 };
  } catch {
    return {};
  }
}

/** Keeps a running HTTPS server's certificate current. */
export class TlsReloader {
  private config: TlsConfig;
  private watched: string[] = [];
  private settleTimer: NodeJS.Timeout | null = null;
  private readonly logger: Logger;
  /** Fingerprint of the certificate in use (for tests and logs). */
  fingerprint = '';

  constructor(
    private readonly server: TlsServer,
    config: TlsConfig,
    logger: Logger,
    initial: SecureContextOptions,
  ) {
    this.config = config;
    this.logger = logger.child({ module: 'tls' });
    this.fingerprint = describeCertificate(initial).fingerprint256 ?? '';
    this.logger.info(describeCertificate(initial), 'TLS certificate in use');
    this.watch();
  }

  /**
   * Reads the files again (of `config`, when a reload names new ones) and swaps them in.
   * Throws RC_ERR_TLS_UNUSABLE and keeps the current certificate when they do not load.
   */
  reload(config: TlsConfig = this.config): void {
    const options = readTlsOptions(config);
    this.server.setSecureContext(options);
    const described = describeCertificate(options);
    const changed = described.fingerprint256 !== this.fingerprint;
    this.fingerprint = described.fingerprint256 ?? '';
    if (config !== this.config) {
      this.config = config;
      this.watch();
    }
    this.logger.info({ ...described, changed }, 'TLS certificate reloaded');
  }

  /** Stops watching the files. */
  close(): void {
    if (this.settleTimer !== null) clearTimeout(this.settleTimer);
    for (const path of this.watched) unwatchFile(path, this.onChange);
    this.watched = [];
  }

  private readonly onChange = (current: Stats, previous: Stats): void => {
    // Reading a file also fires the listener; only a new inode, size or mtime is a change.
    if (current.mtimeMs === previous.mtimeMs && current.ino === previous.ino && current.size === previous.size) return;
    if (this.settleTimer !== null) clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      this.settleTimer = null;
      try {
        this.reload();
      } catch (error) {
        this.logger.warn({ err: error }, 'TLS files changed but do not load; still serving the previous certificate');
      }
    }, SETTLE_MS);
    this.settleTimer.unref();
  };

  private watch(): void {
    this.close();
    if (this.config.watchIntervalMs === 0) return;
    const paths = [this.config.cert, this.config.key, ...(this.config.ca === undefined ? [] : [this.config.ca])];
    for (const path of paths) {
      watchFile(path, { interval: this.config.watchIntervalMs, persistent: false }, this.onChange);
      this.watched.push(path);
    }
  }
}
