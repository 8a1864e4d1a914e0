/**
 * The vocabulary of access decisions, shared by the rule store, the evaluation engine, the secret-read
 * handlers and the audit trail. Kept free of I/O so the engine stays pure.
 */
import type { PrincipalRef, RulePrincipals, RuleRecord } from '../store/records.js';

export type { PrincipalRef, ReasonRequirement, RulePrincipals, RuleRecord } from '../store/records.js';

export const ACCESS_TYPES = ['LocalAdminPassword', 'LocalAdminPasswordHistory', 'BitLockerRecoveryKey', 'LocalAdminPasswordRotation'] as const;
export type AccessType = (typeof ACCESS_TYPES)[number];

/** Result codes, named as Access Manager admins know them, plus the ones a Graph-backed service adds. */
export const RESULT_CODES = [
  'Success',
  'NoMatchingRuleForComputer',
  'NoMatchingRuleForUser',
  'ExplicitlyDenied',
  'ReasonRequired',
  'UserRateLimitExceeded',
  'IpRateLimitExceeded',
  'DeviceNotFound',
  'AmbiguousDevice',
  'NoLapsPassword',
  'DirectoryError',
  'AuditUnavailable',
  'NotificationFailed',
  'InvalidRequest',
  'InternalError',
  'RotationUnavailable',
] as const;
export type ResultCode = (typeof RESULT_CODES)[number];

/** The eight principal lists of a rule, in the order admins know them. */
export const PRINCIPAL_LIST_NAMES = [
  'principalsAllowedLaps',
  'principalsDeniedLaps',
  'principalsAllowedLapsHistory',
  'principalsDeniedLapsHistory',
  'principalsAllowedBitLocker',
  'principalsDeniedBitLocker',
  'principalsAllowedLapsRotation',
  'principalsDeniedLapsRotation',
] as const satisfies readonly (keyof RulePrincipals)[];

export const PRINCIPAL_LISTS: Record<AccessType, { allowed: keyof RulePrincipals; denied: keyof RulePrincipals }> = {
  LocalAdminPassword: { allowed: 'principalsAllowedLaps', denied: 'principalsDeniedLaps' },
  LocalAdminPasswordHistory: { allowed: 'principalsAllowedLapsHistory', denied: 'principalsDeniedLapsHistory' },
  BitLockerRecoveryKey: { allowed: 'principalsAllowedBitLocker', denied: 'principalsDeniedBitLocker' },
  LocalAdminPasswordRotation: { allowed: 'principalsAllowedLapsRotation', denied: 'principalsDeniedLapsRotation' },
};

const NONE: readonly PrincipalRef[] = Object.freeze([]);

/** A principal list of a rule; the rotation lists are absent in rules written before rotation, as empty. */
export function principalsIn(rule: { readonly [L in keyof RulePrincipals]?: readonly PrincipalRef[] }, list: keyof RulePrincipals): readonly PrincipalRef[] {
  return rule[list] ?? NONE;
}

export type TargetKind = 'device' | 'group' | 'tenant';

export function targetKind(rule: Pick<RuleRecord, 'groupId' | 'deviceId'>): TargetKind {
  return rule.deviceId ? 'device' : rule.groupId ? 'group' : 'tenant';
}

/** The device a decision is about, as found in Entra. */
export interface DeviceIdentity {
  tenantId: string;
  /** Entra `deviceId`. */
  deviceId: string;
  /** Directory object id (what group membership is asked about). */
  objectId: string;
  deviceName: string;
}
