/**
 * The vocabulary of access decisions, shared by the rule store, the evaluation engine, the secret-read
 * handlers and the audit trail. Kept free of I/O so the engine stays pure.
 */

export const ACCESS_TYPES = ['LocalAdminPassword', 'LocalAdminPasswordHistory', 'BitLockerRecoveryKey'] as const;
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
] as const;
export type ResultCode = (typeof RESULT_CODES)[number];

export type ReasonRequirement = 'Hidden' | 'Optional' | 'Required';

/** A user or group named in a rule, resolved through Graph when the rule was written. */
export interface PrincipalRef {
  id: string;
  type: 'user' | 'group';
  displayName: string;
}

/** The principal lists of a rule, one allow and one deny list per access type. */
export interface RulePrincipals {
  principalsAllowedLaps: PrincipalRef[];
  principalsDeniedLaps: PrincipalRef[];
  principalsAllowedLapsHistory: PrincipalRef[];
  principalsDeniedLapsHistory: PrincipalRef[];
  principalsAllowedBitLocker: PrincipalRef[];
  principalsDeniedBitLocker: PrincipalRef[];
}

/** The six principal lists of a rule, in the order admins know them. */
export const PRINCIPAL_LIST_NAMES = [
  'principalsAllowedLaps',
  'principalsDeniedLaps',
  'principalsAllowedLapsHistory',
  'principalsDeniedLapsHistory',
  'principalsAllowedBitLocker',
  'principalsDeniedBitLocker',
] as const satisfies readonly (keyof RulePrincipals)[];

export const PRINCIPAL_LISTS: Record<AccessType, { allowed: keyof RulePrincipals; denied: keyof RulePrincipals }> = {
  LocalAdminPassword: { allowed: 'principalsAllowedLaps', denied: 'principalsDeniedLaps' },
  LocalAdminPasswordHistory: { allowed: 'principalsAllowedLapsHistory', denied: 'principalsDeniedLapsHistory' },
  BitLockerRecoveryKey: { allowed: 'principalsAllowedBitLocker', denied: 'principalsDeniedBitLocker' },
};

/** A computer authorization rule as stored. Exactly one target kind: tenant, group (+tenant) or device (+tenant). */
export interface RuleRecord extends RulePrincipals {
  id: string;
  description: string;
  /** Target: the whole tenant when neither groupId nor deviceId is set. Lowercase GUID. */
  tenantId: string;
  /** Target: devices that are transitive members of this group (directory object id). */
  groupId?: string;
  /** Target: one device, by its Entra `deviceId` (not its directory object id). */
  deviceId?: string;
  /** Display name of the target group or device when the rule was written. */
  targetDisplayName?: string;
  ruleExpiryDate?: string;
  disabled: boolean;
  notes?: string;
  userRequestReasonRequirement: ReasonRequirement;
  /** Notification channel ids. */
  notificationChannelsSuccess: string[];
  notificationChannelsFailure: string[];
  createdAt: string;
  createdBy: string;
  modifiedAt?: string;
  modifiedBy?: string;
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
