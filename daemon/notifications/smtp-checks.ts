/**
 * The checks of an SMTP channel's fields: the relay, how to reach it and sign in, who the mail is from
 * and to, and its templates. Checked as a whole, since an update changes some fields of a valid set.
 */
import { isIP } from 'node:net';
import { SMTP_TLS_MODES, type SmtpTlsMode } from '../store/records.js';
import type { FieldError } from './channel-contract.js';
import { checkTemplate, hasControlCharacters, isLoopback, required } from './channel-checks.js';

/** The default port of each TLS mode: plain SMTP relay, submission with STARTTLS, implicit TLS. */
export const DEFAULT_SMTP_PORTS: Record<SmtpTlsMode, number> = { none: 25, starttls: 587, tls: 465 };

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const ADDRESS = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** `someone@example.com` or `Display Name <someone@example.com>`. */
// eslint-disable-next-line no-control-regex -- a NUL in a display name is refused on purpose
const NAMED_ADDRESS = /^([^<>"\r\n\u0000]*?)\s*<([^<>\s]+)>$/;

function checkAddress(value: unknown, path: string, errors: FieldError[]): void {
  const text = typeof value === 'string' ? value.trim() : '';
  const named = NAMED_ADDRESS.exec(text);
  const address = named ? named[2]! : text;
  if (!text || hasControlCharacters(text) || !ADDRESS.test(address)) {
    errors.push({ path, message: 'must be a mail address, such as amsd@contoso.com or "AMS <amsd@contoso.com>"' });
  }
}

export interface SmtpSettings {
  host: string | undefined;
  port: number;
  tls: SmtpTlsMode;
  username: string | undefined;
  hasPassword: boolean;
  from: string | undefined;
  to: string[] | undefined;
  subjectTemplate: string;
  htmlTemplate: string;
}

/** Checks the fields in `given` ('all' on creation), then the combination. */
export function checkSmtp(smtp: SmtpSettings, given: 'all' | ReadonlySet<string>, errors: FieldError[]): void {
  const check = (field: string) => given === 'all' || given.has(field);
  if (check('host') && required(smtp.host, 'host', errors)) {
    const host = smtp.host!.trim();
    if (!(isIP(host.replace(/^\[|\]$/g, '')) || HOSTNAME.test(host))) errors.push({ path: 'body/host', message: 'must be a host name or IP address, such as smtp.contoso.com' });
  }
  if (check('port') && (!Number.isInteger(smtp.port) || smtp.port < 1 || smtp.port > 65535)) errors.push({ path: 'body/port', message: 'must be a port number from 1 to 65535' });
  if (check('tls') && !(SMTP_TLS_MODES as readonly string[]).includes(smtp.tls)) errors.push({ path: 'body/tls', message: `must be one of: ${SMTP_TLS_MODES.join(', ')}` });
  if (check('from') && required(smtp.from, 'from', errors)) checkAddress(smtp.from, 'body/from', errors);
  if (check('to')) {
    if (!Array.isArray(smtp.to) || smtp.to.length === 0) errors.push({ path: 'body/to', message: 'must list at least one recipient' });
    else smtp.to.forEach((address, i) => checkAddress(address, `body/to/${i}`, errors));
  }
  if (check('username') && smtp.username !== undefined && (smtp.username.trim() === '' || hasControlCharacters(smtp.username))) {
    errors.push({ path: 'body/username', message: 'must be a user name on one line (give null to sign in with none)' });
  }
  if (check('subjectTemplate')) checkTemplate(smtp.subjectTemplate, 'text', 'subjectTemplate', errors);
  if (check('htmlTemplate')) checkTemplate(smtp.htmlTemplate, 'html', 'htmlTemplate', errors);

  // The combination, whatever was given.
  if (smtp.hasPassword && smtp.username === undefined) errors.push({ path: 'body/password', message: 'needs a username to sign in with' });
  if (smtp.username !== undefined && !smtp.hasPassword) errors.push({ path: 'body/password', message: 'is required with a username' });
  if (smtp.username !== undefined && smtp.tls === 'none' && smtp.host && !isLoopback(smtp.host.trim())) {
    errors.push({ path: 'body/tls', message: 'cannot be none with a username and password: they would cross the network in clear text; use starttls or tls' });
  }
}
