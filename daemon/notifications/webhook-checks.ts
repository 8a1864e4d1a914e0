/**
 * The checks of a webhook channel's fields: where it posts, how, and with which headers.
 */
import type { FieldError } from './channel-contract.js';
import { WEBHOOK_METHODS } from '../store/records.js';
import { isLoopback } from './channel-checks.js';

/** Headers amsd sets itself, or that only the HTTP client may set. */
const RESERVED_HEADERS = new Set([
  'host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect',
  'x-ams-timestamp', 'x-ams-signature', 'x-ams-delivery-id',
]);

export function checkUrl(value: string, errors: FieldError[]): URL | undefined {
  const fail = (message: string) => void errors.push({ path: 'body/url', message });
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail('must be an absolute URL, such as https://example.webhook.office.com/...');
  }
  if (url.protocol === 'http:') {
    if (!isLoopback(url.hostname)) return fail('must use https: plain http is allowed only to a loopback address (127.0.0.1, ::1, localhost)');
  } else if (url.protocol !== 'https:') {
    return fail(`must be an https URL, not ${url.protocol}`);
  }
  if (url.username || url.password) return fail('must not hold credentials: put them in a header (headers are sealed at rest and never shown)');
  if (url.hash) return fail('must not have a #fragment (it is never sent)');
  return url;
}

export function checkMethod(value: string | undefined, errors: FieldError[]): void {
  if (value !== undefined && !(WEBHOOK_METHODS as readonly string[]).includes(value)) errors.push({ path: 'body/method', message: `must be one of: ${WEBHOOK_METHODS.join(', ')}` });
}

const MEDIA_TYPE = /^[A-Za-z0-9][\w.+-]*\/[A-Za-z0-9][\w.+-]*(\s*;\s*[\w.+-]+=("[^"\r\n]*"|[\w.+-]+))*$/;

export function checkContentType(value: string | undefined, errors: FieldError[]): void {
  if (value !== undefined && !MEDIA_TYPE.test(value)) errors.push({ path: 'body/contentType', message: 'must be a media type such as application/json or application/json; charset=utf-8' });
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The headers as [name, value] pairs, checked: valid names, not twice, not one amsd sets itself, values on one line. */
export function checkHeaders(headers: Record<string, string>, errors: FieldError[]): [string, string][] {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    errors.push({ path: 'body/headers', message: 'must be an object of header names and values' });
    return [];
  }
  const entries = Object.entries(headers);
  const seen = new Map<string, string>();
  for (const [name, value] of entries) {
    const path = `body/headers/${name}`;
    const lower = name.toLowerCase();
    if (!HEADER_NAME.test(name)) errors.push({ path, message: 'is not a valid header name (letters, digits and !#$%&\'*+.^_`|~- only)' });
    else if (RESERVED_HEADERS.has(lower)) {
      errors.push({ path, message: lower === 'content-type' ? 'is set by contentType: use that field' : 'is set by amsd itself and cannot be configured' });
    } else if (seen.has(lower)) errors.push({ path, message: `is the same header as '${seen.get(lower)}' (header names are case-insensitive)` });
    seen.set(lower, name);
    if (typeof value !== 'string') errors.push({ path, message: 'must be a string' });
    else if (/[\r\n\0]/.test(value)) errors.push({ path, message: 'must be one line (no CR, LF or NUL)' });
  }
  return entries;
}
