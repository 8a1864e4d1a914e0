/**
 * What writing a channel takes and gives, and the field checks every kind shares. Each check pushes
 * `body/<field>` errors with a message that says what to write instead.
 *
 * Sizes are the contract's alone (the `maxLength`, `maxItems` and `maxProperties` of
 * NewNotificationChannel and NotificationChannelUpdate): request validation refuses an oversized field,
 * naming it, before any check here runs, so no check restates them.
 */
import { isIP } from 'node:net';
import type { Sealer } from '../store/sealing.js';
import type { DeepReadonly } from '../store/store.js';
import type { ChannelKind, ChannelRecord } from '../store/records.js';
import type { FieldError, NewChannel } from './channel-contract.js';
import { channelNamed } from './channel-references.js';
import { validateTemplate, type TemplateFormat } from './templates.js';

export interface ChannelWriteContext {
  sealer: Sealer;
  /** The channels stored now: names must stay unique. Check again inside `Store.mutate` (two writers may race). */
  existing: readonly DeepReadonly<ChannelRecord>[];
  /** Written as createdBy / modifiedBy. */
  author: string;
  now?: Date;
}

export type ChannelWriteResult = { record: ChannelRecord; errors?: undefined } | { errors: FieldError[]; record?: undefined };

const KIND_FIELDS: Record<ChannelKind, readonly (keyof NewChannel)[]> = {
  webhook: ['url', 'method', 'contentType', 'headers', 'bodyTemplate', 'signingSecret'],
  smtp: ['host', 'port', 'tls', 'username', 'password', 'from', 'to', 'subjectTemplate', 'htmlTemplate'],
  powershell: ['scriptPath'],
};

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function required(value: unknown, field: string, errors: FieldError[]): boolean {
  if (value === undefined || value === null || value === '') {
    errors.push({ path: `body/${field}`, message: 'is required for this kind of channel' });
    return false;
  }
  return true;
}

export function hasControlCharacters(value: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(value);
}

export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

export function checkName(value: unknown, existing: ChannelWriteContext['existing'], exceptId: string | undefined, errors: FieldError[]): string {
  const name = typeof value === 'string' ? value.trim() : '';
  if (name === '') errors.push({ path: 'body/name', message: 'must contain more than spaces' });
  else if (hasControlCharacters(name)) errors.push({ path: 'body/name', message: 'must not contain control characters or line breaks' });
  else if (GUID.test(name)) errors.push({ path: 'body/name', message: 'must not look like a GUID: rules name channels by id or name' });
  else {
    const taken = channelNamed(existing, name, exceptId);
    if (taken) errors.push({ path: 'body/name', message: `is already the name of channel ${taken.id} (names are unique, whatever their case)` });
  }
  return name;
}

/** The fields of the other kinds, each named: a webhook has no `host`. */
export function checkForeignFields(input: object, kind: ChannelKind, errors: FieldError[]): void {
  for (const [other, fields] of Object.entries(KIND_FIELDS) as [ChannelKind, readonly string[]][]) {
    if (other === kind) continue;
    for (const field of fields) {
      if ((input as Record<string, unknown>)[field] !== undefined) {
        errors.push({ path: `body/${field}`, message: `applies to ${other} channels only; this channel is a ${kind}` });
      }
    }
  }
}

export function checkSecret(value: string, field: string, errors: FieldError[]): void {
  if (typeof value !== 'string' || value === '') errors.push({ path: `body/${field}`, message: 'must not be empty (give null to remove it)' });
}

export function checkTemplate(template: string, format: TemplateFormat, field: string, errors: FieldError[]): void {
  if (typeof template !== 'string' || template.trim() === '') {
    errors.push({ path: `body/${field}`, message: 'must not be empty' });
    return;
  }
  for (const message of validateTemplate(template, format)) errors.push({ path: `body/${field}`, message });
}
