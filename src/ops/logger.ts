/**
 * The process logger: pino, JSON lines, with secrets redacted. Modules log through
 * child loggers named `{ module: '…' }`.
 */
import { pino, type Logger } from 'pino';

/** Paths that may carry secrets or session tokens; never written to logs. */
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.secret',
  '*.token',
  '*.cookieSecret',
];

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'roomcast' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  });
}
