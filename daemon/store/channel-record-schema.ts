/**
 * The JSON Schema of notification channels as stored, for the state file's schema:
 * `channels: { type: 'array', items: channelRecordSchema }` in `stateSchema`. Sealed fields must hold
 * sealed values, and no field can hold a secret in clear (every object is closed).
 */
import { CHANNEL_KINDS, SMTP_TLS_MODES, WEBHOOK_METHODS } from './records.js';

const dateTime = { type: 'string', format: 'date-time' } as const;
const uuid = { type: 'string', format: 'uuid' } as const;
const sealed = { type: 'string', pattern: '^v1\\.' } as const;
const text = { type: 'string', minLength: 1 } as const;

const commonProperties = {
  id: uuid,
  name: { type: 'string', minLength: 1, maxLength: 128 },
  description: { type: 'string' },
  enabled: { type: 'boolean' },
  mandatory: { type: 'boolean' },
  createdAt: dateTime,
  createdBy: { type: 'string' },
  modifiedAt: dateTime,
  modifiedBy: { type: 'string' },
} as const;
const commonRequired = ['id', 'name', 'kind', 'enabled', 'mandatory', 'createdAt', 'createdBy'] as const;

export const channelRecordSchema = {
  type: 'object',
  required: ['kind'],
  properties: { kind: { enum: [...CHANNEL_KINDS] } },
  oneOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: [...commonRequired, 'sealedUrl', 'urlOrigin', 'method', 'contentType', 'headers', 'bodyTemplate'],
      properties: {
        ...commonProperties,
        kind: { const: 'webhook' },
        sealedUrl: sealed,
        urlOrigin: { type: 'string', pattern: '^https?://' },
        method: { enum: [...WEBHOOK_METHODS] },
        contentType: text,
        headers: {
          type: 'array',
          items: { type: 'object', additionalProperties: false, required: ['name', 'sealedValue'], properties: { name: text, sealedValue: sealed } },
        },
        bodyTemplate: text,
        sealedSigningSecret: sealed,
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: [...commonRequired, 'host', 'port', 'tls', 'from', 'to', 'subjectTemplate', 'htmlTemplate'],
      properties: {
        ...commonProperties,
        kind: { const: 'smtp' },
        host: text,
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        tls: { enum: [...SMTP_TLS_MODES] },
        username: text,
        sealedPassword: sealed,
        from: text,
        to: { type: 'array', minItems: 1, items: text },
        subjectTemplate: text,
        htmlTemplate: text,
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: [...commonRequired, 'scriptPath'],
      properties: { ...commonProperties, kind: { const: 'powershell' }, scriptPath: text },
    },
  ],
} as const;
