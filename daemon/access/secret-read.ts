/**
 * One secret read, as the steps it takes, top to bottom (`SecretRead.run`): the rate limits; the device
 * and the caller's groups, asked of Graph at once; the device's groups, only when a rule in its tenant
 * targets a group; the decision (the pure rule engine); then the secret from Graph and the granted
 * event on the audit trail, at once, since the decision no longer depends on the secret; the mandatory
 * notification channels; and the answer. The secret leaves only once its event is on disk and every
 * mandatory channel was told. Every refusal is an event; a failure after the granted event is a second
 * one. Other channels are told through the persistent queue.
 */
import type { AuditTrail } from '../audit/audit-trail.js';
import { auditActor } from '../audit/change-author.js';
import type { AuditDevice, SecretReadEventInput } from '../audit/events.js';
import { callerKey, type Caller } from '../auth/caller.js';
import { AuditWriteError, DomainError, ForbiddenError, GraphError, RateLimitedError, UnavailableError, ValidationError, type ResultCode } from '../common/errors.js';
import type { Deadline } from '../directory/deadline.js';
import type { DeviceSecrets } from '../directory/device-secrets.js';
import { AmbiguousDeviceError, isDeviceLookupRefusal, type Device, type DeviceDirectory } from '../directory/devices.js';
import { enabledChannels } from '../notifications/channel-references.js';
import type { DeliveryQueue } from '../notifications/queue.js';
import type { NotificationEvent } from '../notifications/templates.js';
import type { SettingsService } from '../settings/settings-service.js';
import type { ChannelRecord } from '../store/records.js';
import type { DeepReadonly } from '../store/store.js';
import type { AccessDecision, RuleIndex } from './evaluation.js';
import type { ReadLimits, ReadRateDecision } from './rate-limit.js';
import type { AccessType } from './types.js';

export type SecretRequest = import('../../openapi/ams.js').components['schemas']['SecretRequest'];

/** Where a request came from, for the audit trail and the per-IP limit. */
export interface RequestOrigin {
  ip: string;
  requestId: string;
}

/**
 * Reads the secret of a device the rules allowed. A DomainError with a result code it throws (no LAPS
 * backup, say) is a refusal: audited and answered as it is.
 */
export type SecretFetch<T> = (device: Device, deadline: Deadline) => Promise<T>;

export interface SecretReadDependencies {
  rules: { index(): RuleIndex };
  devices: DeviceDirectory;
  secrets: DeviceSecrets;
  audit: AuditTrail;
  /** In memory (synchronous), or shared in PostgreSQL (a promise, which may reject with UnavailableError: fail closed). */
  limiter: ReadLimits;
  settings: SettingsService;
  /** The channels as stored now. */
  channels: () => readonly DeepReadonly<ChannelRecord>[];
  queue: DeliveryQueue;
  /** A notification that could not even be queued (the queue file cannot be written). */
  onNotificationError: (error: unknown) => void;
  /** Whether Intune can rotate a device's password (rotation-service.ts); never rejects. */
  rotation?: { whyNot(device: Device, deadline?: Deadline): Promise<string | undefined> };
}

/** Past this many targeted groups, one getMemberGroups for the device is cheaper than checkMemberGroups batches of 20. */
const CHECK_MEMBER_GROUPS_LIMIT = 60;

/** What each access type lets one do to a device, as the refusals say it. */
const ACCESS_ACTS: Record<AccessType, (device: string) => string> = {
  LocalAdminPassword: (device) => `read the local administrator password of ${device}`,
  LocalAdminPasswordHistory: (device) => `read the local administrator password history of ${device}`,
  BitLockerRecoveryKey: (device) => `read the BitLocker recovery keys of ${device}`,
  LocalAdminPasswordRotation: (device) => `have the local administrator password of ${device} rotated`,
};

const REFUSAL_DETAIL: Record<'NoMatchingRuleForComputer' | 'NoMatchingRuleForUser' | 'ExplicitlyDenied', (act: string, device: string) => string> = {
  NoMatchingRuleForComputer: (act, device) => `No authorization rule applies to ${device}, so nobody may ${act}. An administrator can add one with createComputerAuthorizationRule (POST /v1/computer-authorization-rules).`,
  NoMatchingRuleForUser: (act) => `No authorization rule lets you ${act}. Ask an administrator; getEffectiveAccess (GET /v1/effective-access) shows why.`,
  ExplicitlyDenied: (act) => `A rule forbids you to ${act}; a deny wins over every allow.`,
};

/**
 * Rules name users and groups, so a key acting as no user (an admin key, typically) matches none of
 * them: asking an administrator would not help the administrator holding it.
 */
function actsAsNoUser(caller: Caller, act: string): string {
  const key = caller.kind === 'apiKey' ? `The API key '${caller.displayName}'` : 'This caller';
  return `${key} acts as no user, and authorization rules allow users and groups, so no rule can let it ${act} (its role does not matter). Use a key that acts as a user: createApiKey (POST /v1/api-keys) with that user's tenantId and principalId (object id), or sign in as the user with Entra ID.`;
}

/** The caller's object id and every group it is in; an API key acting as nobody is only itself (no rule names it). */
export async function callerPrincipals(secrets: DeviceSecrets, caller: Caller, deadline?: Deadline): Promise<Set<string>> {
  if (!caller.principalId || !caller.tenantId) return new Set([`apiKey:${caller.kind === 'apiKey' ? caller.apiKeyId : ''}`]);
  const groups = caller.kind === 'entra' && caller.tokenGroupIds ? caller.tokenGroupIds : await secrets.memberGroups(caller.tenantId, 'users', caller.principalId, deadline);
  return new Set([caller.principalId, ...groups]);
}

/** Which of the groups the tenant's rules target contain the device; no Graph call when no rule targets a group. */
export async function targetedDeviceGroups(secrets: DeviceSecrets, index: RuleIndex, device: Device, now: number, deadline?: Deadline): Promise<ReadonlySet<string>> {
  const targeted = index.groupsToCheck(device.tenantId, now);
  if (targeted.length === 0) return new Set();
  if (targeted.length > CHECK_MEMBER_GROUPS_LIMIT) {
    const all = new Set(await secrets.memberGroups(device.tenantId, 'devices', device.objectId, deadline));
    return new Set(targeted.filter((g) => all.has(g)));
  }
  return secrets.memberOf(device.tenantId, 'devices', device.objectId, targeted, deadline);
}

/** The device as the rule engine sees it. */
export function deviceIdentity(device: Device) {
  return { tenantId: device.tenantId, deviceId: device.deviceId.toLowerCase(), objectId: device.objectId, deviceName: device.deviceName };
}

function kebab(code: string): string {
  return code.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase();
}

/** What a granted read leaves for what follows it (a rotation after the read). */
export interface GrantedRead {
  device: Device;
  decision: AccessDecision;
  event: NotificationEvent;
  /** For a rule that rotates after the read: why Intune cannot rotate the device, or undefined when it can. */
  rotatable?: Promise<string | undefined>;
}

/** An administrator's rotation request that no rule grants: allowed, decided by no rule (an explicit deny of a user still wins for keys acting as that user). */
function administratorRotation(ruled: AccessDecision): AccessDecision {
  if (ruled.code === 'ExplicitlyDenied') return ruled;
  return { ...ruled, allowed: true, code: 'Success', reasonRequirement: 'Optional', successChannels: [] };
}

export class SecretRead<T> {
  readonly #base: Omit<SecretReadEventInput, 'device' | 'outcome'>;
  /** The device as the trail names it: what was asked for, until the device is found. */
  #auditDevice: AuditDevice;
  #ruleIds: string[] | undefined;
  #decision: AccessDecision | undefined;
  /** One rule index and one clock for the device's groups and the decision. */
  readonly #index: RuleIndex;
  readonly #now = Date.now();
  /** Set once the secret may leave. */
  #grant: GrantedRead | undefined;

  constructor(
    private readonly deps: SecretReadDependencies,
    /** Errors answered after recording them, so that nobody records them twice. */
    private readonly audited: WeakSet<object>,
    private readonly accessType: AccessType,
    private readonly request: SecretRequest,
    private readonly caller: Caller,
    private readonly origin: RequestOrigin,
    private readonly fetchSecret: SecretFetch<T>,
    /** The read's time budget for Entra and Graph, passed to every call it makes. */
    private readonly deadline: Deadline,
  ) {
    this.#base = {
      type: 'secret.read',
      actor: auditActor(caller),
      accessType,
      ip: origin.ip,
      requestId: origin.requestId,
      ...(request.reason ? { reason: request.reason } : {}),
    };
    this.#auditDevice = { query: request.computerName ?? request.deviceId! };
    this.#index = deps.rules.index();
  }

  async run(): Promise<T> {
    // The steps that usually pass decide synchronously, and only a refusal is awaited (its event).
    // In memory the limit is decided synchronously; only the shared (PostgreSQL) limiter is awaited.
    let limited = this.#limitRefusal();
    if (limited instanceof Promise) limited = await limited;
    if (limited) return this.#refuse(limited);
    const { device, principals } = await this.#deviceAndCallerGroups();
    const deviceGroups = await this.#directory(() => targetedDeviceGroups(this.deps.secrets, this.#index, device, this.#now, this.deadline));
    const decision = this.#decide(device, principals, deviceGroups);
    if ('refusal' in decision) return this.#refuse(decision.refusal);
    const granted: SecretReadEventInput = { ...this.#base, device: this.#auditDevice, outcome: { success: true, code: 'Success', ruleIds: this.#ruleIds ?? [] } };
    // A rule that rotates after the read: whether Intune can is asked while the secret is fetched.
    const rotatable = decision.rotateAfterReadMinutes !== undefined ? this.deps.rotation?.whyNot(device, this.deadline) : undefined;
    const { secret, written } = await this.#secretWhileAuditing(device, granted);
    const successChannels = this.#successChannels(decision);
    if (successChannels.some((c) => c.mandatory)) await this.#tellMandatoryChannels(successChannels, decision, granted);
    this.#notify(successChannels.filter((c) => !c.mandatory).map((c) => c.id), written);
    this.#grant = { device, decision, event: written, ...(rotatable ? { rotatable } : {}) };
    return secret;
  }

  /** After `run` resolved: the device, the decision and the granted event (what a rotation after the read needs). */
  get granted(): GrantedRead | undefined {
    return this.#grant;
  }

  #limitRefusal(): RateLimitedError | UnavailableError | undefined | Promise<RateLimitedError | UnavailableError | undefined> {
    const limit = this.deps.limiter.takeBoth(callerKey(this.caller), this.origin.ip, Date.now());
    if (limit instanceof Promise) {
      // The shared limiter cannot count the read without its database: refused, no secret leaves (recorded
      // if the trail can still be written; the shared trail is in that database too: see #refuse).
      return limit.then(
        (decided) => this.#rateRefusal(decided),
        (error: unknown) => {
          if (error instanceof UnavailableError && error.resultCode) return error;
          throw error;
        },
      );
    }
    return this.#rateRefusal(limit);
  }

  #rateRefusal(limit: ReadRateDecision): RateLimitedError | undefined {
    if (limit.allowed) return undefined;
    const who = limit.code === 'UserRateLimitExceeded' ? 'You have' : `Your address ${this.origin.ip} has`;
    const detail = `${who} made too many secret requests this ${limit.window}; try again in ${limit.retryAfterSeconds} s.`;
    return new RateLimitedError(kebab(limit.code), detail, limit.retryAfterSeconds, { resultCode: limit.code });
  }

  /** Neither depends on the other, so both are asked at once; the device's answer is taken first. */
  async #deviceAndCallerGroups(): Promise<{ device: Device; principals: Set<string> }> {
    const groups = callerPrincipals(this.deps.secrets, this.caller, this.deadline);
    groups.catch(() => {}); // awaited below once the device is found; a refused device makes its failure moot
    const device = await this.#directory(() => this.#lookUpDevice());
    this.#auditDevice = { deviceName: device.deviceName, deviceId: device.deviceId, objectId: device.objectId, tenantId: device.tenantId };
    const principals = await this.#directory(() => groups);
    return { device, principals };
  }

  /**
   * The one device asked for. Several devices by that name, none, or no tenant to look in (none enabled,
   * the one named disabled or unknown) refuse the read, answered as GET /v1/devices answers them; the
   * audit keeps Access Manager's codes, with the reason as the message.
   */
  async #lookUpDevice(): Promise<Device> {
    try {
      return await this.deps.devices.resolve(
        {
          ...(this.request.computerName ? { name: this.request.computerName } : { deviceId: this.request.deviceId! }),
          ...(this.request.tenantId ? { tenantId: this.request.tenantId } : {}),
        },
        this.deadline,
      );
    } catch (error) {
      if (!isDeviceLookupRefusal(error)) throw error;
      return this.#refuse(error.withResultCode(error instanceof AmbiguousDeviceError ? 'AmbiguousDevice' : 'DeviceNotFound'));
    }
  }

  /** The decision, or the refusal to record and answer. */
  #decide(device: Device, principals: ReadonlySet<string>, deviceGroups: ReadonlySet<string>): AccessDecision | { refusal: DomainError & { resultCode?: ResultCode } } {
    const ruled = this.#index.evaluate({ device: deviceIdentity(device), deviceGroupIds: deviceGroups, callerPrincipalIds: principals, accessType: this.accessType, now: this.#now });
    // Administrators may have any device's password rotated (issue 16), rules or not; a rule that grants it still names itself.
    const decision = !ruled.allowed && this.accessType === 'LocalAdminPasswordRotation' && this.caller.role === 'admin' ? administratorRotation(ruled) : ruled;
    this.#decision = decision;
    this.#ruleIds = decision.allowed ? (decision.grantingRule ? [decision.grantingRule.id] : []) : decision.denyingRules.length > 0 ? decision.denyingRules : decision.matchingRules;
    const act = ACCESS_ACTS[this.accessType](device.deviceName);
    if (!decision.allowed) {
      const code = decision.code as keyof typeof REFUSAL_DETAIL;
      const detail = code === 'NoMatchingRuleForUser' && !this.caller.principalId ? actsAsNoUser(this.caller, act) : REFUSAL_DETAIL[code](act, device.deviceName);
      return { refusal: new ForbiddenError(kebab(code), detail, { resultCode: code }) };
    }
    if (decision.reasonRequirement === 'Required' && !this.request.reason?.trim()) {
      return {
        refusal: new ValidationError([{ path: 'body/reason', message: 'is required by the rule that grants this access' }], {
          reason: 'reason-required',
          detail: `The rule '${decision.grantingRule!.description}' asks for a reason: say why you need it (reason).`,
          resultCode: 'ReasonRequired',
        }),
      };
    }
    return decision;
  }

  /**
   * The decision is made, so the granted event is written while Graph is asked for the secret. The
   * secret is kept unless both succeed: a refusal or Graph failure after the event is a second event;
   * an event that cannot be written is AuditWriteError (503).
   */
  async #secretWhileAuditing(device: Device, granted: SecretReadEventInput): Promise<{ secret: T; written: NotificationEvent }> {
    const [written, secret] = await Promise.allSettled([this.deps.audit.append(granted), this.#directory(() => this.#fetch(device))]);
    if (secret.status === 'rejected') throw secret.reason;
    if (written.status === 'rejected') throw written.reason;
    return { secret: secret.value, written: written.value as NotificationEvent };
  }

  async #fetch(device: Device): Promise<T> {
    try {
      return await this.fetchSecret(device, this.deadline);
    } catch (error) {
      if (error instanceof DomainError && error.resultCode) return this.#refuse(error);
      throw error;
    }
  }

  /** Mandatory channels are told before the secret leaves; if one cannot be, the secret does not leave. */
  async #tellMandatoryChannels(channels: readonly DeepReadonly<ChannelRecord>[], decision: AccessDecision, granted: SecretReadEventInput): Promise<void> {
    const mandatory = channels.filter((c) => c.mandatory);
    const extra = decision.grantingRule ? { ruleDescription: decision.grantingRule.description } : {};
    const results = await Promise.all(mandatory.map((channel) => this.deps.queue.deliverNow(channel, granted, extra)));
    const failed = mandatory.flatMap((channel, i) => {
      const result = results[i]!;
      return result.ok ? [] : [{ channel, error: result.error }];
    });
    if (failed.length === 0) return;
    const detail = `The secret was not returned: the notification channel ${failed.map((f) => `'${f.channel.name}'`).join(', ')} must be told of every read, and could not be. Try again later; an administrator can check it with testNotificationChannel (POST /v1/notification-channels/{id}/test).`;
    await this.#refuse(new UnavailableError('notification-failed', detail, 60, { resultCode: 'NotificationFailed' }), `Mandatory notification failed: ${failed.map((f) => `${f.channel.id} (${f.channel.name}): ${f.error}`).join('; ')}`);
  }

  #successChannels(decision: AccessDecision) {
    return enabledChannels(this.deps.channels(), [...decision.successChannels, ...this.deps.settings.get().globalChannelsSuccess]);
  }

  /** Audits a refusal, tells the failure channels (queued: nothing is left to refuse), and throws it as the answer. */
  async #refuse(refusal: DomainError & { resultCode?: ResultCode }, auditMessage?: string): Promise<never> {
    const code = refusal.resultCode!;
    const unreachable = refusal.reason === 'database-unreachable';
    let event;
    try {
      event = await this.deps.audit.append({ ...this.#base, device: this.#auditDevice, outcome: { success: false, code, message: auditMessage ?? refusal.message, ...(this.#ruleIds ? { ruleIds: this.#ruleIds } : {}) } });
    } catch (error) {
      // The shared trail is in the database that cannot be reached: the refusal cannot be recorded there,
      // and is the answer (503, no secret); the access log has the request.
      if (!(unreachable && error instanceof AuditWriteError)) throw error;
      this.audited.add(refusal);
      throw refusal;
    }
    this.audited.add(refusal);
    // Rate-limit refusals are not announced: a script in a loop would flood every channel. Nor is a
    // database that cannot be reached: the shared queue is in it.
    if (!(refusal instanceof RateLimitedError) && !unreachable) this.#notifyFailure(event as NotificationEvent);
    throw refusal;
  }

  /** A Graph failure is audited as DirectoryError, then answered as Graph failures are (502/503/504). */
  async #directory<R>(call: () => Promise<R>): Promise<R> {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof GraphError) || this.audited.has(error)) throw error;
      const event = await this.deps.audit.append({ ...this.#base, device: this.#auditDevice, outcome: { success: false, code: 'DirectoryError', message: error.message, ...(this.#ruleIds ? { ruleIds: this.#ruleIds } : {}) } });
      this.audited.add(error);
      this.#notifyFailure(event as NotificationEvent);
      throw error;
    }
  }

  #notifyFailure(event: NotificationEvent): void {
    this.#notify([...(this.#decision?.failureChannels ?? []), ...this.deps.settings.get().globalChannelsFailure], event);
  }

  /** Queues the event for each enabled channel named; a queue that cannot be written is logged, not the caller's problem. */
  #notify(channelIds: readonly string[], event: NotificationEvent): void {
    const channels = enabledChannels(this.deps.channels(), channelIds);
    const extra = this.#decision?.grantingRule ? { ruleDescription: this.#decision.grantingRule.description } : {};
    for (const channel of channels) {
      this.deps.queue.enqueue(channel.id, event, extra).catch((error: unknown) => this.deps.onNotificationError(error));
    }
  }
}
