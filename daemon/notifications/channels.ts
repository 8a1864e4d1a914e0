/**
 * Notification channels: where amsd tells people about secret reads. Three kinds — a webhook, an
 * SMTP mailbox, a PowerShell script — with the settings of each, checked when written and kept at rest
 * with every secret sealed:
 *
 * - a webhook's URL (Teams and Slack incoming-webhook URLs are bearer secrets: whoever has one can
 *   post), its header values and its signing secret;
 * - an SMTP channel's password.
 *
 * Sealed values are bound to the channel and field (`channel:<id>:<field>`), and a view never holds
 * one: the URL shows as its origin, headers by name, secrets as `hasSigningSecret` / `hasPassword`.
 *
 * These are pure functions over records; the caller stores them (`State.channels`, checked against
 * `channelRecordSchema` in store/channel-record-schema.ts) and audits changes with `toChannelView` as before/after.
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import type { FieldError } from '../http/problem.js';
import type { Sealer } from '../store/sealing.js';
import type { DeepReadonly } from '../store/store.js';
import {
  CHANNEL_KINDS,
  SMTP_TLS_MODES,
  WEBHOOK_METHODS,
  type ChannelKind,
  type ChannelRecord,
  type SmtpTlsMode,
  type WebhookMethod,
} from '../store/records.js';
import {
  DEFAULT_HTML_TEMPLATE,
  DEFAULT_SUBJECT_TEMPLATE,
  DEFAULT_WEBHOOK_BODY_TEMPLATE,
  validateTemplate,
  type TemplateFormat,
} from './templates.js';


export const LIMITS = {
  name: 128,
  description: 1024,
  url: 2048,
  headers: 50,
  headerValue: 8192,
  secret: 1024,
  template: 65536,
  recipients: 50,
  address: 320,
  path: 1024,
} as const;

/** The default port of each TLS mode: plain SMTP relay, submission with STARTTLS, implicit TLS. */
export const DEFAULT_SMTP_PORTS: Record<SmtpTlsMode, number> = { none: 25, starttls: 587, tls: 465 };

/** Headers amsd sets itself, or that only the HTTP client may set. */
const RESERVED_HEADERS = new Set([
  'host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect',
  'x-ams-timestamp', 'x-ams-signature', 'x-ams-delivery-id',
]);


export function channelSealingContext(channelId: string, field: 'url' | 'signingSecret' | 'password' | `header:${string}`): string {
  return `channel:${channelId}:${field}`;
}

// ---------------------------------------------------------------------------------------------------
// What the API takes and shows: one flat object with `kind` and the fields of each kind.

interface WebhookFields {
  /** https://, or http:// to a loopback address only. */
  url?: string;
  method?: WebhookMethod;
  contentType?: string;
  headers?: Record<string, string>;
  bodyTemplate?: string;
  signingSecret?: string;
}

interface SmtpFields {
  host?: string;
  port?: number;
  tls?: SmtpTlsMode;
  username?: string;
  password?: string;
  from?: string;
  to?: string[];
  subjectTemplate?: string;
  htmlTemplate?: string;
}

interface PowerShellFields {
  scriptPath?: string;
}

export interface NewChannel extends WebhookFields, SmtpFields, PowerShellFields {
  name: string;
  kind: ChannelKind;
  description?: string;
  enabled?: boolean;
  mandatory?: boolean;
}

/**
 * Only the fields given change. `headers` replaces every header (`{}` removes them all); null removes
 * `description`, `signingSecret`, `password`, or `username` (with the password).
 */
export interface ChannelUpdate extends Omit<WebhookFields, 'signingSecret'>, Omit<SmtpFields, 'username' | 'password'>, PowerShellFields {
  name?: string;
  /** Cannot change; accepted only when equal, so a whole object read back can be sent. */
  kind?: ChannelKind;
  description?: string | null;
  enabled?: boolean;
  mandatory?: boolean;
  signingSecret?: string | null;
  username?: string | null;
  password?: string | null;
}

export interface ChannelView {
  id: string;
  name: string;
  description?: string;
  kind: ChannelKind;
  enabled: boolean;
  mandatory: boolean;
  // webhook
  urlOrigin?: string;
  method?: WebhookMethod;
  contentType?: string;
  headerNames?: string[];
  bodyTemplate?: string;
  hasSigningSecret?: boolean;
  // smtp
  host?: string;
  port?: number;
  tls?: SmtpTlsMode;
  username?: string;
  hasPassword?: boolean;
  from?: string;
  to?: string[];
  subjectTemplate?: string;
  htmlTemplate?: string;
  // powershell
  scriptPath?: string;
  createdAt: string;
  createdBy: string;
  modifiedAt?: string;
  modifiedBy?: string;
}

/** Built field by field, so that no sealed value can slip into a view. */
export function toChannelView(record: DeepReadonly<ChannelRecord>): ChannelView {
  const common = {
    id: record.id,
    name: record.name,
    ...(record.description ? { description: record.description } : {}),
    kind: record.kind,
    enabled: record.enabled,
    mandatory: record.mandatory,
  };
  const audit = {
    createdAt: record.createdAt,
    createdBy: record.createdBy,
    ...(record.modifiedAt ? { modifiedAt: record.modifiedAt } : {}),
    ...(record.modifiedBy ? { modifiedBy: record.modifiedBy } : {}),
  };
  switch (record.kind) {
    case 'webhook':
      return {
        ...common,
        urlOrigin: record.urlOrigin,
        method: record.method,
        contentType: record.contentType,
        headerNames: record.headers.map((h) => h.name),
        bodyTemplate: record.bodyTemplate,
        hasSigningSecret: record.sealedSigningSecret !== undefined,
        ...audit,
      };
    case 'smtp':
      return {
        ...common,
        host: record.host,
        port: record.port,
        tls: record.tls,
        ...(record.username !== undefined ? { username: record.username } : {}),
        hasPassword: record.sealedPassword !== undefined,
        from: record.from,
        to: [...record.to],
        subjectTemplate: record.subjectTemplate,
        htmlTemplate: record.htmlTemplate,
        ...audit,
      };
    case 'powershell':
      return { ...common, scriptPath: record.scriptPath, ...audit };
  }
}

// ---------------------------------------------------------------------------------------------------
// Finding channels

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The channel with this id or (case-insensitive) name. */
export function findChannel<T extends DeepReadonly<ChannelRecord>>(channels: readonly T[], idOrName: string): T | undefined {
  const key = idOrName.trim().toLowerCase();
  return channels.find((c) => c.id === key) ?? channels.find((c) => c.name.toLowerCase() === key);
}

/** The channel (other than `exceptId`) already called `name`, case-insensitively. */
export function channelNamed<T extends DeepReadonly<ChannelRecord>>(channels: readonly T[], name: string, exceptId?: string): T | undefined {
  const key = name.trim().toLowerCase();
  return channels.find((c) => c.id !== exceptId && c.name.toLowerCase() === key);
}

/**
 * Channel references (ids or names, as a rule or the settings give them) resolved to ids; every
 * reference that names no channel is a field error at `<path>/<index>`.
 */
export function resolveChannelRefs(channels: readonly DeepReadonly<ChannelRecord>[], refs: readonly string[], path: string, errors: FieldError[]): string[] {
  const ids: string[] = [];
  refs.forEach((ref, i) => {
    const channel = findChannel(channels, ref);
    if (!channel) errors.push({ path: `${path}/${i}`, message: `no notification channel '${ref}' exists (listNotificationChannels, GET /v1/notification-channels, lists them)` });
    else if (!ids.includes(channel.id)) ids.push(channel.id);
  });
  return ids;
}

/**
 * The channels to tell, from the ids a rule and the settings hold: each once, in order, skipping
 * disabled ones and ids that name no channel any more.
 */
export function enabledChannels<T extends DeepReadonly<ChannelRecord>>(channels: readonly T[], ids: Iterable<string>): T[] {
  const wanted = new Set(ids);
  return [...wanted].flatMap((id) => {
    const channel = channels.find((c) => c.id === id);
    return channel && channel.enabled ? [channel] : [];
  });
}

// ---------------------------------------------------------------------------------------------------
// Writing channels

export interface ChannelWriteContext {
  sealer: Sealer;
  /** The channels stored now: names must stay unique. Check again inside `Store.mutate` (two writers may race). */
  existing: readonly DeepReadonly<ChannelRecord>[];
  /** Written as createdBy / modifiedBy. */
  author: string;
  now?: Date;
}

export type ChannelWriteResult = { record: ChannelRecord; errors?: undefined } | { errors: FieldError[]; record?: undefined };

const KIND_FIELDS: Record<ChannelKind, readonly string[]> = {
  webhook: ['url', 'method', 'contentType', 'headers', 'bodyTemplate', 'signingSecret'],
  smtp: ['host', 'port', 'tls', 'username', 'password', 'from', 'to', 'subjectTemplate', 'htmlTemplate'],
  powershell: ['scriptPath'],
};

/** A new channel checked field by field (every mistake named), sealed and ready to store. */
export function validateNewChannel(input: NewChannel, context: ChannelWriteContext): ChannelWriteResult {
  const errors: FieldError[] = [];
  const kind = input.kind;
  if (!(CHANNEL_KINDS as readonly string[]).includes(kind)) {
    return { errors: [{ path: 'body/kind', message: `must be one of: ${CHANNEL_KINDS.join(', ')}` }] };
  }
  const id = randomUUID();
  const name = checkName(input.name, context.existing, undefined, errors);
  checkDescription(input.description, errors);
  checkForeignFields(input, kind, errors);
  const now = (context.now ?? new Date()).toISOString();
  const base = {
    id,
    name,
    ...(input.description?.trim() ? { description: input.description.trim() } : {}),
    enabled: input.enabled ?? true,
    mandatory: input.mandatory ?? false,
    createdAt: now,
    createdBy: context.author,
  };
  const seal = (value: string, field: Parameters<typeof channelSealingContext>[1]) => context.sealer.seal(value, channelSealingContext(id, field));

  let record: ChannelRecord;
  switch (kind) {
    case 'webhook': {
      const url = required(input.url, 'url', errors) ? checkUrl(input.url!, errors) : undefined;
      const headers = checkHeaders(input.headers ?? {}, errors);
      const bodyTemplate = input.bodyTemplate ?? DEFAULT_WEBHOOK_BODY_TEMPLATE;
      checkTemplate(bodyTemplate, 'json', 'bodyTemplate', errors);
      checkMethod(input.method, errors);
      checkContentType(input.contentType, errors);
      if (input.signingSecret !== undefined) checkSecret(input.signingSecret, 'signingSecret', errors);
      if (errors.length > 0) return { errors };
      record = {
        ...base,
        kind,
        sealedUrl: seal(url!.href, 'url'),
        urlOrigin: url!.origin,
        method: input.method ?? 'POST',
        contentType: input.contentType ?? 'application/json',
        headers: headers.map(([n, v]) => ({ name: n, sealedValue: seal(v, `header:${n.toLowerCase()}`) })),
        bodyTemplate,
        ...(input.signingSecret !== undefined ? { sealedSigningSecret: seal(input.signingSecret, 'signingSecret') } : {}),
      };
      break;
    }
    case 'smtp': {
      const tls = input.tls ?? 'starttls';
      const smtp = {
        host: input.host,
        port: input.port ?? DEFAULT_SMTP_PORTS[(SMTP_TLS_MODES as readonly string[]).includes(tls) ? tls : 'starttls'],
        tls,
        username: input.username,
        hasPassword: input.password !== undefined,
        from: input.from,
        to: input.to,
        subjectTemplate: input.subjectTemplate ?? DEFAULT_SUBJECT_TEMPLATE,
        htmlTemplate: input.htmlTemplate ?? DEFAULT_HTML_TEMPLATE,
      };
      checkSmtp(smtp, 'all', errors);
      if (input.password !== undefined) checkSecret(input.password, 'password', errors);
      if (errors.length > 0) return { errors };
      record = {
        ...base,
        kind,
        host: smtp.host!.trim(),
        port: smtp.port,
        tls: smtp.tls,
        ...(smtp.username !== undefined ? { username: smtp.username } : {}),
        ...(input.password !== undefined ? { sealedPassword: seal(input.password, 'password') } : {}),
        from: smtp.from!.trim(),
        to: smtp.to!.map((a) => a.trim()),
        subjectTemplate: smtp.subjectTemplate,
        htmlTemplate: smtp.htmlTemplate,
      };
      break;
    }
    case 'powershell': {
      if (required(input.scriptPath, 'scriptPath', errors)) checkScriptPath(input.scriptPath!, errors);
      if (errors.length > 0) return { errors };
      record = { ...base, kind, scriptPath: input.scriptPath! };
      break;
    }
  }
  return { record };
}

/** The record with the update applied, checked as a whole (every mistake named), or the errors. */
export function applyChannelUpdate(record: DeepReadonly<ChannelRecord>, update: ChannelUpdate, context: ChannelWriteContext): ChannelWriteResult {
  const errors: FieldError[] = [];
  if (update.kind !== undefined && update.kind !== record.kind) {
    errors.push({ path: 'body/kind', message: `cannot be changed (this channel is a ${record.kind}): remove it and create a new one` });
  }
  const next = structuredClone(record) as ChannelRecord;
  if (update.name !== undefined) next.name = checkName(update.name, context.existing, record.id, errors);
  if (update.description !== undefined) {
    checkDescription(update.description ?? undefined, errors);
    if (update.description?.trim()) next.description = update.description.trim();
    else delete next.description;
  }
  if (update.enabled !== undefined) next.enabled = update.enabled;
  if (update.mandatory !== undefined) next.mandatory = update.mandatory;
  checkForeignFields(update, record.kind, errors);
  const seal = (value: string, field: Parameters<typeof channelSealingContext>[1]) => context.sealer.seal(value, channelSealingContext(record.id, field));

  switch (next.kind) {
    case 'webhook': {
      if (update.url !== undefined) {
        const url = checkUrl(update.url, errors);
        if (url) {
          next.sealedUrl = seal(url.href, 'url');
          next.urlOrigin = url.origin;
        }
      }
      if (update.method !== undefined) {
        checkMethod(update.method, errors);
        next.method = update.method;
      }
      if (update.contentType !== undefined) {
        checkContentType(update.contentType, errors);
        next.contentType = update.contentType;
      }
      if (update.headers !== undefined) {
        next.headers = checkHeaders(update.headers, errors).map(([n, v]) => ({ name: n, sealedValue: seal(v, `header:${n.toLowerCase()}`) }));
      }
      if (update.bodyTemplate !== undefined) {
        checkTemplate(update.bodyTemplate, 'json', 'bodyTemplate', errors);
        next.bodyTemplate = update.bodyTemplate;
      }
      if (update.signingSecret === null) delete next.sealedSigningSecret;
      else if (update.signingSecret !== undefined) {
        checkSecret(update.signingSecret, 'signingSecret', errors);
        next.sealedSigningSecret = seal(update.signingSecret, 'signingSecret');
      }
      break;
    }
    case 'smtp': {
      const tls = update.tls ?? next.tls;
      const merged = {
        host: update.host ?? next.host,
        // A new TLS mode without a port moves to that mode's default port when the old one was the old mode's default.
        port: update.port ?? (update.tls !== undefined && next.port === DEFAULT_SMTP_PORTS[next.tls] && (SMTP_TLS_MODES as readonly string[]).includes(tls) ? DEFAULT_SMTP_PORTS[tls] : next.port),
        tls,
        username: update.username === null ? undefined : (update.username ?? next.username),
        hasPassword: update.username === null || update.password === null ? false : update.password !== undefined || next.sealedPassword !== undefined,
        from: update.from ?? next.from,
        to: update.to ?? next.to,
        subjectTemplate: update.subjectTemplate ?? next.subjectTemplate,
        htmlTemplate: update.htmlTemplate ?? next.htmlTemplate,
      };
      checkSmtp(merged, new Set(Object.keys(update).filter((k) => update[k as keyof ChannelUpdate] !== undefined)), errors);
      if (typeof update.password === 'string') checkSecret(update.password, 'password', errors);
      if (errors.length > 0) return { errors };
      next.host = merged.host.trim();
      next.port = merged.port;
      next.tls = merged.tls;
      if (merged.username === undefined) delete next.username;
      else next.username = merged.username;
      if (!merged.hasPassword) delete next.sealedPassword;
      else if (typeof update.password === 'string') next.sealedPassword = seal(update.password, 'password');
      next.from = merged.from.trim();
      next.to = merged.to.map((a) => a.trim());
      next.subjectTemplate = merged.subjectTemplate;
      next.htmlTemplate = merged.htmlTemplate;
      break;
    }
    case 'powershell': {
      if (update.scriptPath !== undefined) {
        checkScriptPath(update.scriptPath, errors);
        next.scriptPath = update.scriptPath;
      }
      break;
    }
  }
  if (errors.length > 0) return { errors };
  next.modifiedAt = (context.now ?? new Date()).toISOString();
  next.modifiedBy = context.author;
  return { record: next };
}

// ---------------------------------------------------------------------------------------------------
// Field checks. Each pushes `body/<field>` errors with a message that says what to write instead.

function required(value: unknown, field: string, errors: FieldError[]): boolean {
  if (value === undefined || value === null || value === '') {
    errors.push({ path: `body/${field}`, message: 'is required for this kind of channel' });
    return false;
  }
  return true;
}

function hasControlCharacters(value: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(value);
}

function checkName(value: unknown, existing: ChannelWriteContext['existing'], exceptId: string | undefined, errors: FieldError[]): string {
  const name = typeof value === 'string' ? value.trim() : '';
  if (name === '') errors.push({ path: 'body/name', message: 'must contain more than spaces' });
  else if (name.length > LIMITS.name) errors.push({ path: 'body/name', message: `must be at most ${LIMITS.name} characters` });
  else if (hasControlCharacters(name)) errors.push({ path: 'body/name', message: 'must not contain control characters or line breaks' });
  else if (GUID.test(name)) errors.push({ path: 'body/name', message: 'must not look like a GUID: rules name channels by id or name' });
  else {
    const taken = channelNamed(existing, name, exceptId);
    if (taken) errors.push({ path: 'body/name', message: `is already the name of channel ${taken.id} (names are unique, whatever their case)` });
  }
  return name;
}

function checkDescription(value: string | undefined, errors: FieldError[]): void {
  if (value !== undefined && value.length > LIMITS.description) errors.push({ path: 'body/description', message: `must be at most ${LIMITS.description} characters` });
}

function checkForeignFields(input: object, kind: ChannelKind, errors: FieldError[]): void {
  for (const [other, fields] of Object.entries(KIND_FIELDS) as [ChannelKind, readonly string[]][]) {
    if (other === kind) continue;
    for (const field of fields) {
      if ((input as Record<string, unknown>)[field] !== undefined) {
        errors.push({ path: `body/${field}`, message: `applies to ${other} channels only; this channel is a ${kind}` });
      }
    }
  }
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

function checkUrl(value: string, errors: FieldError[]): URL | undefined {
  const fail = (message: string) => void errors.push({ path: 'body/url', message });
  if (value.length > LIMITS.url) return fail(`must be at most ${LIMITS.url} characters`);
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

function checkMethod(value: string | undefined, errors: FieldError[]): void {
  if (value !== undefined && !(WEBHOOK_METHODS as readonly string[]).includes(value)) errors.push({ path: 'body/method', message: `must be one of: ${WEBHOOK_METHODS.join(', ')}` });
}

const MEDIA_TYPE = /^[A-Za-z0-9][\w.+-]*\/[A-Za-z0-9][\w.+-]*(\s*;\s*[\w.+-]+=("[^"\r\n]*"|[\w.+-]+))*$/;

function checkContentType(value: string | undefined, errors: FieldError[]): void {
  if (value !== undefined && !MEDIA_TYPE.test(value)) errors.push({ path: 'body/contentType', message: 'must be a media type such as application/json or application/json; charset=utf-8' });
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The headers as [name, value] pairs, checked: valid names, not twice, not one amsd sets itself, values on one line. */
function checkHeaders(headers: Record<string, string>, errors: FieldError[]): [string, string][] {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    errors.push({ path: 'body/headers', message: 'must be an object of header names and values' });
    return [];
  }
  const entries = Object.entries(headers);
  if (entries.length > LIMITS.headers) errors.push({ path: 'body/headers', message: `must have at most ${LIMITS.headers} headers` });
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
    else if (value.length > LIMITS.headerValue) errors.push({ path, message: `must be at most ${LIMITS.headerValue} characters` });
    else if (/[\r\n\0]/.test(value)) errors.push({ path, message: 'must be one line (no CR, LF or NUL)' });
  }
  return entries;
}

function checkSecret(value: string, field: string, errors: FieldError[]): void {
  if (typeof value !== 'string' || value === '') errors.push({ path: `body/${field}`, message: 'must not be empty (give null to remove it)' });
  else if (value.length > LIMITS.secret) errors.push({ path: `body/${field}`, message: `must be at most ${LIMITS.secret} characters` });
}

function checkTemplate(template: string, format: TemplateFormat, field: string, errors: FieldError[]): void {
  if (typeof template !== 'string' || template.trim() === '') {
    errors.push({ path: `body/${field}`, message: 'must not be empty' });
    return;
  }
  if (template.length > LIMITS.template) {
    errors.push({ path: `body/${field}`, message: `must be at most ${LIMITS.template} characters` });
    return;
  }
  for (const message of validateTemplate(template, format)) errors.push({ path: `body/${field}`, message });
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const ADDRESS = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** `someone@example.com` or `Display Name <someone@example.com>`. */
// eslint-disable-next-line no-control-regex -- a NUL in a display name is refused on purpose
const NAMED_ADDRESS = /^([^<>"\r\n\u0000]*?)\s*<([^<>\s]+)>$/;

function checkAddress(value: unknown, path: string, errors: FieldError[]): void {
  const text = typeof value === 'string' ? value.trim() : '';
  const named = NAMED_ADDRESS.exec(text);
  const address = named ? named[2]! : text;
  if (!text || text.length > LIMITS.address || hasControlCharacters(text) || !ADDRESS.test(address)) {
    errors.push({ path, message: 'must be a mail address, such as amsd@contoso.com or "AMS <amsd@contoso.com>"' });
  }
}

interface SmtpSettings {
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
function checkSmtp(smtp: SmtpSettings, given: 'all' | ReadonlySet<string>, errors: FieldError[]): void {
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
    else if (smtp.to.length > LIMITS.recipients) errors.push({ path: 'body/to', message: `must list at most ${LIMITS.recipients} recipients` });
    else smtp.to.forEach((address, i) => checkAddress(address, `body/to/${i}`, errors));
  }
  if (check('username') && smtp.username !== undefined && (smtp.username.trim() === '' || smtp.username.length > LIMITS.address || hasControlCharacters(smtp.username))) {
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

function checkScriptPath(value: string, errors: FieldError[]): void {
  const fail = (message: string) => void errors.push({ path: 'body/scriptPath', message });
  if (typeof value !== 'string' || value.length > LIMITS.path || hasControlCharacters(value)) return fail(`must be a path of at most ${LIMITS.path} characters on one line`);
  if (!isAbsolute(value)) return fail('must be an absolute path on the daemon\'s machine, such as C:\\Scripts\\Notify.ps1');
  if (!/\.ps1$/i.test(value)) return fail('must be a PowerShell script (.ps1)');
}
