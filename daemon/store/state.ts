/**
 * The shape of the daemon's state file, and the JSON Schema it is checked against on every load.
 * Large, growing data (the audit trail) is kept out of it: every write rewrites the whole file.
 */
import type { components } from '../../openapi/ams.js';

export const SCHEMA_VERSION = 1;

export type Role = components['schemas']['Role'];
export type Cloud = components['schemas']['Cloud'];

export interface ApiKeyRecord {
  id: string;
  name: string;
  role: Role;
  description?: string;
  /** The first characters of the key, shown to recognise it. */
  prefix: string;
  /** SHA-256 of the whole key, hex. The key itself is never stored. */
  hash: string;
  tenantId?: string;
  principalId?: string;
  expiresAt?: string;
  createdAt: string;
  createdBy: string;
  revokedAt?: string;
  revokedBy?: string;
  lastUsedAt?: string;
}

/** A tenant's credential as kept at rest: the secret part only ever sealed. */
export type TenantCredentialRecord =
  | {
      type: 'secret';
      /** Sealed with the context `tenant:<tenantId>:clientSecret`. */
      sealedClientSecret: string;
    }
  | {
      type: 'certificate';
      certificatePem: string;
      /** SHA-256 of the DER certificate, lowercase hex. */
      thumbprint: string;
      expiresAt: string;
      /** PKCS#8 PEM, sealed with the context `tenant:<tenantId>:privateKeyPem`. */
      sealedPrivateKeyPem: string;
    };

export interface TenantRecord {
  /** Lowercase GUID; unique. */
  tenantId: string;
  displayName: string;
  clientId: string;
  credential: TenantCredentialRecord;
  cloud: Cloud;
  /** Overrides of the cloud's endpoints, when set. */
  authorityHost?: string;
  graphEndpoint?: string;
  enabled: boolean;
  /** When set, the tenant's users may call amsd with Entra access tokens issued for these audiences. */
  userSignIn?: UserSignInRecord;
  createdAt: string;
  createdBy: string;
  modifiedAt?: string;
  modifiedBy?: string;
}

export interface UserSignInRecord {
  /** Accepted `aud` values (amsd's app id and/or `api://` URI); never empty. */
  audiences: string[];
  /** The public client users sign in with (device code flow). */
  clientId: string;
  scope?: string;
  /** Users or groups of this tenant whose tokens get the admin role. */
  administratorIds: string[];
}

export interface State {
  schemaVersion: typeof SCHEMA_VERSION;
  apiKeys: ApiKeyRecord[];
  tenants: TenantRecord[];
}

export function emptyState(): State {
  return { schemaVersion: SCHEMA_VERSION, apiKeys: [], tenants: [] };
}

const dateTime = { type: 'string', format: 'date-time' } as const;
const uuid = { type: 'string', format: 'uuid' } as const;
const sealed = { type: 'string', pattern: '^v1\\.' } as const;
const httpsUrl = { type: 'string', pattern: '^https://' } as const;

export const stateSchema = {
  type: 'object',
  additionalProperties: false,
  // `tenants` came later within schema version 1: a file without it loads as having none.
  required: ['schemaVersion', 'apiKeys', 'tenants'],
  properties: {
    schemaVersion: { const: SCHEMA_VERSION },
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
  },
} as const;
