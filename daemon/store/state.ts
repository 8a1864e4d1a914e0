/**
 * The shape of the daemon's state file (the snapshot of the embedded store, see json-file-store.ts),
 * and the JSON Schema it is checked against on every load; each record's own part of the schema also
 * checks every change before it is written (record-checks.ts). Large, growing data (the audit trail)
 * is kept out of it.
 */
import { channelRecordSchema } from './channel-record-schema.js';
import type { ApiKeyRecord, AuditTrailRecord, ChannelRecord, RuleRecord, SettingsRecord, TenantRecord } from './records.js';

export const SCHEMA_VERSION = 1;

/** The state's file in the data directory. */
export const STATE_FILE = 'amsd.json';


export interface State {
  schemaVersion: typeof SCHEMA_VERSION;
  /**
   * How many changes the snapshot holds: the change journal's entries up to it are in it, later ones
   * are applied on load. Absent in files from before the journal (as 0).
   */
  revision?: number;
  apiKeys: ApiKeyRecord[];
  tenants: TenantRecord[];
  rules: RuleRecord[];
  channels: ChannelRecord[];
  settings: SettingsRecord;
  auditTrail?: AuditTrailRecord;
}

export function emptyState(): State {
  return { schemaVersion: SCHEMA_VERSION, apiKeys: [], tenants: [], rules: [], channels: [], settings: {} };
}

/** Collections added within schema version 1 after files were written: a file without them has none. */
export function fillAddedCollections(raw: unknown): void {
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const state = raw as Record<string, unknown>;
    state.rules ??= [];
    state.channels ??= [];
    state.settings ??= {};
  }
}

const principalRef = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'type', 'displayName'],
  properties: { id: { type: 'string', format: 'uuid' }, type: { enum: ['user', 'group'] }, displayName: { type: 'string' } },
} as const;
const principalList = { type: 'array', items: principalRef } as const;
const positive = { type: 'integer', minimum: 1 } as const;
const seconds = { type: 'integer', minimum: 0 } as const; // also days and counts: any whole number from 0

const dateTime = { type: 'string', format: 'date-time' } as const;
const uuid = { type: 'string', format: 'uuid' } as const;
const sealed = { type: 'string', pattern: '^v1\\.' } as const;
const httpsUrl = { type: 'string', pattern: '^https://' } as const;

export const stateSchema = {
  type: 'object',
  additionalProperties: false,
  // `tenants` came later within schema version 1: a file without it loads as having none.
  required: ['schemaVersion', 'apiKeys', 'tenants', 'rules', 'channels', 'settings'],
  properties: {
    schemaVersion: { const: SCHEMA_VERSION },
    revision: seconds,
    apiKeys: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'name', 'role', 'prefix', 'hash', 'createdAt', 'createdBy'],
        properties: {
          id: uuid,
          name: { type: 'string', minLength: 1 },
          role: { enum: ['admin', 'user'] },
          description: { type: 'string' },
          prefix: { type: 'string' },
          hash: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          tenantId: uuid,
          principalId: uuid,
          userPrincipalName: { type: 'string', minLength: 1 },
          expiresAt: dateTime,
          createdAt: dateTime,
          createdBy: { type: 'string' },
          revokedAt: dateTime,
          revokedBy: { type: 'string' },
          lastUsedAt: dateTime,
        },
      },
    },
    tenants: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['tenantId', 'displayName', 'clientId', 'credential', 'cloud', 'enabled', 'createdAt', 'createdBy'],
        properties: {
          tenantId: uuid,
          displayName: { type: 'string', minLength: 1 },
          clientId: uuid,
          credential: {
            type: 'object',
            required: ['type'],
            properties: { type: { enum: ['secret', 'certificate'] } },
            oneOf: [
              {
                type: 'object',
                additionalProperties: false,
                required: ['type', 'sealedClientSecret'],
                properties: { type: { const: 'secret' }, sealedClientSecret: sealed },
              },
              {
                type: 'object',
                additionalProperties: false,
                required: ['type', 'certificatePem', 'thumbprint', 'expiresAt', 'sealedPrivateKeyPem'],
                properties: {
                  type: { const: 'certificate' },
                  certificatePem: { type: 'string', minLength: 1 },
                  thumbprint: { type: 'string', pattern: '^[0-9a-f]{64}$' },
                  expiresAt: dateTime,
                  sealedPrivateKeyPem: sealed,
                },
              },
            ],
          },
          cloud: { enum: ['Global', 'USGov', 'USGovDoD', 'China'] },
          authorityHost: httpsUrl,
          graphEndpoint: httpsUrl,
          enabled: { type: 'boolean' },
          userSignIn: {
            type: 'object',
            additionalProperties: false,
            required: ['audiences', 'clientId', 'administratorIds'],
            properties: {
              audiences: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
              clientId: uuid,
              scope: { type: 'string', minLength: 1 },
              administratorIds: { type: 'array', items: uuid },
            },
          },
          createdAt: dateTime,
          createdBy: { type: 'string' },
          modifiedAt: dateTime,
          modifiedBy: { type: 'string' },
        },
      },
    },
    rules: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: [
          'id', 'description', 'tenantId', 'disabled', 'userRequestReasonRequirement', 'notificationChannelsSuccess', 'notificationChannelsFailure',
          'principalsAllowedLaps', 'principalsDeniedLaps', 'principalsAllowedLapsHistory', 'principalsDeniedLapsHistory', 'principalsAllowedBitLocker', 'principalsDeniedBitLocker',
          'createdAt', 'createdBy',
        ],
        properties: {
          id: uuid,
          description: { type: 'string', minLength: 1 },
          tenantId: uuid,
          groupId: uuid,
          deviceId: uuid,
          targetDisplayName: { type: 'string' },
          principalsAllowedLaps: principalList,
          principalsDeniedLaps: principalList,
          principalsAllowedLapsHistory: principalList,
          principalsDeniedLapsHistory: principalList,
          principalsAllowedBitLocker: principalList,
          principalsDeniedBitLocker: principalList,
          principalsAllowedLapsRotation: principalList,
          principalsDeniedLapsRotation: principalList,
          rotateAfterReadMinutes: { type: 'integer', minimum: 0, maximum: 1440 },
          ruleExpiryDate: dateTime,
          disabled: { type: 'boolean' },
          notes: { type: 'string' },
          userRequestReasonRequirement: { enum: ['Hidden', 'Optional', 'Required'] },
          notificationChannelsSuccess: { type: 'array', items: { type: 'string' } },
          notificationChannelsFailure: { type: 'array', items: { type: 'string' } },
          createdAt: dateTime,
          createdBy: { type: 'string' },
          modifiedAt: dateTime,
          modifiedBy: { type: 'string' },
        },
      },
    },
    channels: { type: 'array', items: channelRecordSchema },
    auditTrail: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'createdAt', 'checkpoint', 'mac'],
      properties: {
        id: uuid,
        createdAt: dateTime,
        checkpoint: {
          type: 'object',
          additionalProperties: false,
          required: ['seq', 'hash', 'time'],
          properties: { seq: seconds, hash: { type: 'string', pattern: '^[0-9a-f]{64}$' }, time: dateTime },
        },
        mac: { type: 'string', pattern: '^[0-9a-f]{64}$' },
      },
    },
    settings: {
      type: 'object',
      additionalProperties: false,
      properties: {
        userRateLimitPerMinute: positive,
        userRateLimitPerHour: positive,
        userRateLimitPerDay: positive,
        ipRateLimitPerMinute: positive,
        ipRateLimitPerHour: positive,
        ipRateLimitPerDay: positive,
        trustedProxies: { type: 'array', items: { type: 'string' } },
        deviceCacheSeconds: seconds,
        groupCacheSeconds: seconds,
        secretReadTimeoutSeconds: positive,
        globalChannelsSuccess: { type: 'array', items: uuid },
        globalChannelsFailure: { type: 'array', items: uuid },
        auditRetentionDays: seconds,
        auditMaxEvents: seconds,
      },
    },
  },
} as const;
