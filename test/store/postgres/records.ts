/**
 * Records for the PostgreSQL store's tests: valid by the state's schema, told apart by a number.
 */
import type { ApiKeyRecord, RuleRecord } from '../../../daemon/store/records.js';

export const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
export const TENANT = '11111111-1111-4111-8111-111111111111';

export function apiKey(name: string, n = 1): ApiKeyRecord {
  return { id: id(n), name, role: 'admin', prefix: 'ams_abcd', hash: 'a'.repeat(64), createdAt: '2026-01-01T00:00:00.000Z', createdBy: 'test' };
}

export function rule(description: string, n = 1): RuleRecord {
  return {
    id: id(n),
    description,
    tenantId: TENANT,
    disabled: false,
    userRequestReasonRequirement: 'Optional',
    notificationChannelsSuccess: [],
    notificationChannelsFailure: [],
    principalsAllowedLaps: [{ id: id(1000 + n), type: 'group', displayName: 'Helpdesk' }],
    principalsDeniedLaps: [],
    principalsAllowedLapsHistory: [],
    principalsDeniedLapsHistory: [],
    principalsAllowedBitLocker: [],
    principalsDeniedBitLocker: [],
    createdAt: '2026-01-01T00:00:00.000Z',
    createdBy: 'test',
  };
}

export const descriptions = (rows: readonly { description: string }[]) => rows.map((r) => r.description);
