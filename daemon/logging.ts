/**
 * pino logger settings. Secrets must never reach a log line: requests are logged without headers or
 * bodies, and these paths are redacted wherever an object carrying them is logged anyway.
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  '*.authorization',
  'password',
  '*.password',
  'key',
  '*.key',
  'apiKey',
  '*.apiKey',
  'clientSecret',
  '*.clientSecret',
  'secret',
  '*.secret',
  'privateKeyPem',
  '*.privateKeyPem',
];

/** Query parameters whose values are never logged, whatever the route: a key pasted into a URL by mistake. */
const SECRET_QUERY_NAME = /key|token|secret|password|auth|code/i;

/** The URL of a request as it may be logged: secret-looking query values replaced. */
export function redactUrl(url: string): string {
  const at = url.indexOf('?');
  if (at < 0) return url;
  const query = new URLSearchParams(url.slice(at + 1));
  for (const [name, value] of [...query]) {
    if (SECRET_QUERY_NAME.test(name) || /^ams_/.test(value)) query.set(name, '[redacted]');
  }
  return `${url.slice(0, at)}?${query.toString()}`;
}

interface LoggedRequest {
  method: string;
  url: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(level: LogLevel = 'info', destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: 'amsd' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: {
      // Only what identifies the request: never headers, never the body.
      req: (req: LoggedRequest) => ({
        method: req.method,
        url: redactUrl(req.url),
        host: req.host,
        remoteAddress: req.ip,
        remotePort: req.socket?.remotePort,
      }),
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
