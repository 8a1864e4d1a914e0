/**
 * What the audit trail records: every secret request, whatever its outcome, and every change to
 * tenants, rules, API keys and settings. Callers pass an `AuditEventInput`; the log adds the chain
 * fields (`seq`, `id`, `time`, `eventId`, `prevHash`, `hash`) and stores an `AuditEvent`.
 *
 * Secrets never go in: `before`/`after` must already be redacted by the caller (the log cannot know
 * which field of a tenant or rule is secret).
 */
import { ACCESS_TYPES, RESULT_CODES, type AccessType, type ResultCode } from '../access/types.js';

/** Changes to configuration. Extend this list (and `CHANGE_EVENT_IDS`) for a new kind of change. */
export const CHANGE_EVENT_TYPES = [
  'tenant.created',
  'tenant.updated',
  'tenant.deleted',
  'rule.created',
  'rule.updated',
  'rule.deleted',
  'apiKey.created',
  'apiKey.revoked',
  'settings.updated',
  'channel.created',
  'channel.updated',
  'channel.deleted',
] as const;
export type ChangeEventType = (typeof CHANGE_EVENT_TYPES)[number];

/** A rotation job's life: scheduled, done (Intune accepted the action), failed (given up); skipped: a rule asked for one that cannot happen. */
export const ROTATION_EVENT_TYPES = ['rotation.scheduled', 'rotation.skipped', 'rotation.completed', 'rotation.failed'] as const;
export type RotationEventType = (typeof ROTATION_EVENT_TYPES)[number];

export const AUDIT_EVENT_TYPES = ['secret.read', 'notification.failed', ...ROTATION_EVENT_TYPES, 'audit.pruned', 'audit.rekeyed', 'audit.reset', ...CHANGE_EVENT_TYPES] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** Who asked: an API key, or an Entra user signed in with a token. */
export interface AuditActor {
  /** `system`: the daemon itself (a notification that finally failed). */
  kind: 'apiKey' | 'entra' | 'system';
  /** The API key id, or the Entra object id of the user. */
  id: string;
  displayName: string;
  userPrincipalName?: string;
  tenantId?: string;
  principalId?: string;
  role: 'admin' | 'user';
}

/** The device a request was about, as found in Entra. */
export interface AuditDeviceFound {
  deviceName: string;
  deviceId: string;
  objectId?: string;
  tenantId: string;
}

/** What the requester typed, when it did not name exactly one device. */
export interface AuditDeviceQuery {
  query: string;
}

export type AuditDevice = AuditDeviceFound | AuditDeviceQuery;

export interface AuditOutcome {
  /** Must agree with `code`: true exactly when the code is `Success` (append refuses otherwise). */
  success: boolean;
  code: ResultCode;
  message?: string;
  /** The rules that decided: those that granted, or those that denied. */
  ruleIds?: string[];
}

/** The configuration object a change was made to. */
export interface AuditTarget {
  kind: string;
  id: string;
  displayName?: string;
}

interface AuditContext {
  actor: AuditActor;
  ip?: string;
  requestId?: string;
  /** The requester's stated reason, or an admin's note on a change. */
  reason?: string;
}

export interface SecretReadEventInput extends AuditContext {
  type: 'secret.read';
  accessType: AccessType;
  device: AuditDevice;
  outcome: AuditOutcome;
}

export interface ChangeEventInput extends AuditContext {
  type: ChangeEventType;
  target: AuditTarget;
  /** The object before the change, redacted; absent for a creation. An object, as the contract's AuditEvent says. */
  before?: Record<string, unknown>;
  /** The object after the change, redacted; absent for a deletion. */
  after?: Record<string, unknown>;
}

/** A notification the queue gave up on: never silently dropped. */
export interface NotificationFailedEventInput extends AuditContext {
  type: 'notification.failed';
  target: AuditTarget;
  delivery: { deliveryId: string; attempts: number; lastError: string; auditEventId?: string };
}

/**
 * A rotation of a device's LAPS password through Intune (rotation-jobs.ts). The actor is who caused it
 * (the reader, or who asked); `system` for the worker's outcomes.
 */
export interface RotationEventInput extends AuditContext {
  type: RotationEventType;
  device: AuditDeviceFound;
  rotation: {
    jobId?: string;
    trigger: 'afterRead' | 'onDemand';
    dueAt?: string;
    attempts?: number;
    managedDeviceId?: string;
    /** Why it failed, or (skipped) why it cannot happen. */
    error?: string;
    ruleId?: string;
    /** The read or request that scheduled it. */
    readEventId?: string;
  };
}

/**
 * Retention removed the oldest events. Chained like any event, it names the last event removed and its
 * hash, which the first kept event's prevHash must equal: `amsd audit verify` accepts a trail that starts
 * after seq 1 only when such an event accounts for the cut.
 */
export interface AuditPrunedEventInput extends AuditContext {
  type: 'audit.pruned';
  pruned: { throughSeq: number; lastHash: string; events: number; olderThan?: string; keepLast?: number };
}

/**
 * The start of a keyed trail (see trail.ts), whose id it names:
 * - `audit.rekeyed`: `amsd audit rekey` keyed a trail written before trails were keyed; this event
 *   continues the old chain from its head (`previous.lastSeq`, `previous.lastHash`), and every event
 *   from it on is keyed. Compare that hash with one noted earlier to trust the events before it.
 * - `audit.reset`: `amsd audit reset --confirm` archived the old trail (`previous.archivedAs`, and what
 *   checking it found) and this event is the first of the new one.
 */
export interface AuditTrailEventInput extends AuditContext {
  type: 'audit.rekeyed' | 'audit.reset';
  trail: {
    id: string;
    previous: {
      id?: string;
      /** The file the old trail was moved to, in the audit directory (audit.reset). */
      archivedAs?: string;
      firstSeq?: number;
      lastSeq?: number;
      lastHash?: string;
      /** What checking the old trail found: `intact`, `missing`, or where it is broken. */
      check: string;
    };
  };
}

export type AuditEventInput = SecretReadEventInput | ChangeEventInput | NotificationFailedEventInput | RotationEventInput | AuditPrunedEventInput | AuditTrailEventInput;

/** The fields the log adds; `hash` covers everything else (see chain.ts). */
export interface AuditChainFields {
  /** 1-based, no gaps. */
  seq: number;
  id: string;
  /** ISO 8601, UTC, set when the event is written. */
  time: string;
  /** Numeric id in the Access Manager style (see `eventIdOf`). */
  eventId: number;
  /** `hash` of the previous event; 64 zeros for the first. */
  prevHash: string;
  hash: string;
}

export type AuditEvent = AuditEventInput & AuditChainFields;

/**
 * Event ids, so admins can grep and alert on numbers as they do with Access Manager:
 *
 * - 3001–3004, secret granted: as in Access Manager (3001 LAPS password, 3002 LAPS history,
 *   3004 BitLocker key; 3003 is Access Manager's just-in-time access, which amsd does not have).
 * - 4012–4018, secret refused: as in Access Manager, where it has the same reason.
 * - 4031–4035, secret refused for reasons Access Manager has no id for (amsd's own decade).
 * - 4036, refused because a mandatory notification channel could not be told; 4037, refused because
 *   the request itself was invalid (malformed body, lone surrogate); 4038, failed unexpectedly; 4039, a
 *   rotation asked for that cannot happen (not managed by Intune, no permission); 4041, a queued
 *   notification that finally failed.
 * - 21TK, configuration changed: T is the target (0 rule, 1 tenant, 2 API key, 3 settings, 4 channel), K the
 *   change (1 created, 2 deleted or revoked, 3 updated). Rules keep Access Manager's 2101–2103.
 * - 2151–2153, the trail itself: pruned by retention, keyed (rekeyed), archived and started anew (reset).
 * - 3005, a rotation of the LAPS password asked for and granted (Reset-AmsLocalAdminPassword); 3011 a
 *   rotation scheduled, 3013 done (Intune accepted it); 4051 a rotation that finally failed, 4052 one a
 *   granting rule asked for that cannot happen (not managed by Intune, no permission). amsd's own.
 */
export const SECRET_GRANTED_EVENT_IDS: Record<AccessType, number> = {
  LocalAdminPassword: 3001,
  LocalAdminPasswordHistory: 3002,
  BitLockerRecoveryKey: 3004,
  LocalAdminPasswordRotation: 3005,
};

export const SECRET_REFUSED_EVENT_IDS: Record<Exclude<ResultCode, 'Success'>, number> = {
  NoMatchingRuleForUser: 4012,
  NoMatchingRuleForComputer: 4013,
  ExplicitlyDenied: 4015,
  AuditUnavailable: 4016,
  IpRateLimitExceeded: 4017,
  UserRateLimitExceeded: 4018,
  DeviceNotFound: 4031,
  AmbiguousDevice: 4032,
  NoLapsPassword: 4033,
  DirectoryError: 4034,
  ReasonRequired: 4035,
  NotificationFailed: 4036,
  InvalidRequest: 4037,
  InternalError: 4038,
  RotationUnavailable: 4039,
};

export const CHANGE_EVENT_IDS: Record<ChangeEventType, number> = {
  'rule.created': 2101,
  'rule.deleted': 2102,
  'rule.updated': 2103,
  'tenant.created': 2111,
  'tenant.deleted': 2112,
  'tenant.updated': 2113,
  'apiKey.created': 2121,
  'apiKey.revoked': 2122,
  'settings.updated': 2133,
  'channel.created': 2141,
  'channel.deleted': 2142,
  'channel.updated': 2143,
};

export const ROTATION_EVENT_IDS: Record<RotationEventType, number> = {
  'rotation.scheduled': 3011,
  'rotation.completed': 3013,
  'rotation.failed': 4051,
  'rotation.skipped': 4052,
};

/** A notification that finally failed (after every retry). */
export const NOTIFICATION_FAILED_EVENT_ID = 4041;
/** Retention removed the oldest events of the trail. */
export const AUDIT_PRUNED_EVENT_ID = 2151;
/** The trail was keyed (audit.rekeyed), or archived and started anew (audit.reset). */
export const AUDIT_TRAIL_EVENT_IDS = { 'audit.rekeyed': 2152, 'audit.reset': 2153 } as const;

export function eventIdOf(input: AuditEventInput): number {
  if (input.type === 'notification.failed') return NOTIFICATION_FAILED_EVENT_ID;
  if (input.type === 'rotation.scheduled' || input.type === 'rotation.skipped' || input.type === 'rotation.completed' || input.type === 'rotation.failed') return ROTATION_EVENT_IDS[input.type];
  if (input.type === 'audit.pruned') return AUDIT_PRUNED_EVENT_ID;
  if (input.type === 'audit.rekeyed' || input.type === 'audit.reset') return AUDIT_TRAIL_EVENT_IDS[input.type];
  if (input.type !== 'secret.read') return CHANGE_EVENT_IDS[input.type];
  const { code } = input.outcome;
  return code === 'Success' ? SECRET_GRANTED_EVENT_IDS[input.accessType] : SECRET_REFUSED_EVENT_IDS[code];
}

/**
 * The checks TypeScript cannot make: a JavaScript caller's unknown type, and an outcome whose
 * `success` contradicts its code (which would let a refusal be filtered as a success).
 */
export function checkEventInput(input: AuditEventInput): void {
  if (!(AUDIT_EVENT_TYPES as readonly string[]).includes(input.type)) {
    throw new TypeError(`Unknown audit event type ${JSON.stringify(input.type)}`);
  }
  if (input.type === 'secret.read') {
    if (!(ACCESS_TYPES as readonly string[]).includes(input.accessType)) {
      throw new TypeError(`Unknown access type ${JSON.stringify(input.accessType)}`);
    }
    if (!(RESULT_CODES as readonly string[]).includes(input.outcome.code)) {
      throw new TypeError(`Unknown result code ${JSON.stringify(input.outcome.code)}`);
    }
    if (input.outcome.success !== (input.outcome.code === 'Success')) {
      throw new TypeError(`An outcome with code ${input.outcome.code} cannot have success: ${input.outcome.success}`);
    }
  }
}
