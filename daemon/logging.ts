/**
 * pino logger settings. Secrets must never reach a log line: requests are logged without headers or
 * bodies, and the values of secret-named fields are censored wherever an object carrying them is
 * logged anyway (at the top of the logged object, or one level down: `{ body: { password } }`).
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/** Field names whose values are never logged. */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(['authorization', 'cookie', 'password', 'key', 'apiKey', 'clientSecret', 'secret', 'privateKeyPem']);
const CENSOR = '[redacted]';
/** Logged objects that pino's serializers below (and its standard error serializer) reduce to safe fields first. */
const SERIALIZED: ReadonlySet<string> = new Set(['req', 'res', 'err']);

/**
 * The logged object with every secret field's value censored, at its top level and one level down;
 * the object itself when it holds none (nothing is copied on the common path). pino's own `redact`
 * does the same from a list of paths, but parses each path and clones the object on every line: a
 * noticeable share of each request's CPU and allocations, for one access-log line.
 */
export function censorSecrets(object: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const name in object) {
    const value = object[name];
    if (SECRET_FIELDS.has(name)) {
      if (value === undefined) continue;
      copy ??= { ...object };
      copy[name] = CENSOR;
    } else if (value !== null && typeof value === 'object' && !SERIALIZED.has(name)) {
      const censored = censorOwnFields(value as Record<string, unknown>);
      if (censored !== value) {
        copy ??= { ...object };
        copy[name] = censored;
      }
    }
  }
  return copy ?? object;
}

function censorOwnFields(value: Record<string, unknown>): unknown {
  let copy: Record<string, unknown> | unknown[] | undefined;
  for (const name of SECRET_FIELDS) {
    if (!Object.prototype.hasOwnProperty.call(value, name) || value[name] === undefined) continue;
    copy ??= Array.isArray(value) ? [...(value as unknown[])] : { ...value };
    (copy as Record<string, unknown>)[name] = CENSOR;
  }
  return copy ?? value;
}

/** Query parameters whose values are never logged, whatever the route: a key pasted into a URL by mistake. */
const SECRET_QUERY_NAME = /key|token|secret|password|auth|code/i;
/** An amsd API key or a JWT (an Entra token), anywhere in a value: `Bearer ams_...` pasted whole too. */
const CREDENTIAL = /ams_[A-Za-z0-9_-]{8,}|eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/;

/**
 * The URL of a request as it may be logged: secret-looking query values replaced, and any path segment
 * or query value holding a key or a token (`Remove-AmsApiKey` given the key instead of its id).
 */
export function redactUrl(url: string): string {
  // The common case, checked at once: nothing escaped, no query, no key or token anywhere (neither
  // pattern can span a '/', so one test of the whole path is the test of each of its segments).
  if (!url.includes('%') && !url.includes('?') && !CREDENTIAL.test(url)) return url;
  const at = url.indexOf('?');
  const path = (at < 0 ? url : url.slice(0, at))
    .split('/')
    .map((segment) => (CREDENTIAL.test(decodeSafely(segment)) ? '[redacted]' : segment))
    .join('/');
  if (at < 0) return path;
  const query = new URLSearchParams(url.slice(at + 1));
  for (const [name, value] of [...query]) {
    if (SECRET_QUERY_NAME.test(name) || CREDENTIAL.test(value)) query.set(name, '[redacted]');
  }
  return `${path}?${query.toString()}`;
}

function decodeSafely(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // a bad escape is the request's problem; it is logged as sent
  }
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
    formatters: { log: censorSecrets },
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
      // An error's own fields are logged too (pino's standard serializer): a secret one among them is censored.
      err: (error: Error) => censorOwnFields(pino.stdSerializers.err(error)),
    },
  };
  // Standard output written synchronously, as Node writes process.stdout to files, terminals and pipes
  // on Linux: one write(2) of a few µs per line, where pino's default (an asynchronous sonic-boom) cost
  // ~40 µs of CPU per write in thread-pool hand-offs on this kind of machine.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: true }));
}
