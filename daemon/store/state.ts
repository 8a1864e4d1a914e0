/**
 * The shape of the daemon's state file, and the JSON Schema it is checked against on every load.
 * Large, growing data (the audit trail) is kept out of it: every write rewrites the whole file.
 */
import type { components } from '../../openapi/ams.js';

export const SCHEMA_VERSION = 1;

export type Role = components['schemas']['Role'];

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

export interface State {
  schemaVersion: typeof SCHEMA_VERSION;
  apiKeys: ApiKeyRecord[];
}

export function emptyState(): State {
  return { schemaVersion: SCHEMA_VERSION, apiKeys: [] };
}

const dateTime = { type: 'string', format: 'date-time' } as const;
const uuid = { type: 'string', format: 'uuid' } as const;

export const stateSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['schemaVersion', 'apiKeys'],
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
  },
} as const;
