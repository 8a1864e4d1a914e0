/**
 * Secret reads, decided and recorded. In order: the rate limits, the device, the caller's groups, the
 * rules, the reason the granting rule asks for, the secret from Graph, the mandatory notification
 * channels — and then the audit event, written and synced before the secret is returned. Every
 * outcome, granted or not, is one event; other channels are told through the persistent queue.
 */
import type { components } from '../../openapi/ams.js';
import { AuditWriteError, type AuditLog } from '../audit/audit-log.js';
import { auditActor } from '../audit/change-author.js';
import type { AuditDevice, SecretReadEventInput } from '../audit/events.js';
import { callerKey, type Caller } from '../auth/caller.js';
import { withDeadline } from '../directory/deadline.js';
import type { DeviceSecrets } from '../directory/device-secrets.js';
import type { Device, DeviceDirectory } from '../directory/devices.js';
import { GraphError } from '../directory/graph-client.js';
import { ProblemError, validationProblem } from '../http/problem.js';
import type { DirectoryNames } from './directory-names.js';
import { UnresolvedName } from './directory-names.js';
import type { AccessDecision } from './evaluation.js';
import { enabledChannels } from '../notifications/channel-references.js';
import type { ChannelRecord } from '../store/records.js';
import type { NotificationQueue } from '../notifications/queue.js';
import type { NotificationEvent } from '../notifications/templates.js';
import type { SettingsService } from '../settings/settings-service.js';
import type { DeepReadonly } from '../store/store.js';
import type { ReadRateLimiter } from './rate-limit.js';
import type { RuleService } from './rule-service.js';
import { ACCESS_TYPES, type AccessType, type ResultCode } from './types.js';

export type SecretRequest = components['schemas']['SecretRequest'];
export type LocalAdminPassword = components['schemas']['LocalAdminPassword'];
export type FveRecoveryKey = components['schemas']['FveRecoveryKey'];
export type EffectiveAccess = components['schemas']['EffectiveAccess'];

/** Past this many targeted groups, one getMemberGroups for the device is cheaper than checkMemberGroups batches of 20. */
const CHECK_MEMBER_GROUPS_LIMIT = 60;

/** Reads the secret of a device the rules allowed; `refuse` audits and answers a refusal found on the way. */
type SecretFetch<T> = (device: Device, refuse: (code: ResultCode, status: number, detail: string) => Promise<never>) => Promise<T>;

/** Where a request came from, for the audit trail and the per-IP limit. */
export interface RequestOrigin {
  ip: string;
  requestId: string;
}

const REFUSAL_STATUS: Partial<Record<ResultCode, number>> = {
  NoMatchingRuleForComputer: 403,
  NoMatchingRuleForUser: 403,
  ExplicitlyDenied: 403,
};

const REFUSAL_DETAIL: Partial<Record<ResultCode, (accessType: string, device: string) => string>> = {
  NoMatchingRuleForComputer: (what, device) => `No authorization rule applies to ${device}, so nobody may read its ${what}. An administrator can add one with createComputerAuthorizationRule (POST /v1/computer-authorization-rules).`,
  NoMatchingRuleForUser: (what, device) => `No authorization rule lets you read the ${what} of ${device}. Ask an administrator; getEffectiveAccess (GET /v1/effective-access) shows why.`,
  ExplicitlyDenied: (what, device) => `A rule denies you the ${what} of ${device}; a deny wins over every allow.`,
};

/**
 * Rules name users and groups, so a key acting as no user (an admin key, typically) matches none of
 * them: asking an administrator would not help the administrator holding it.
 */
function actsAsNoUser(caller: Caller, what: string, device: string): string {
  const key = caller.kind === 'apiKey' ? `The API key '${caller.displayName}'` : 'This caller';
  return `${key} acts as no user, and authorization rules allow users and groups, so no rule can let it read the ${what} of ${device} (its role does not matter). Use a key that acts as a user: createApiKey (POST /v1/api-keys) with that user's tenantId and principalId (object id), or sign in as the user with Entra ID.`;
}

const ACCESS_NAMES: Record<AccessType, string> = {
  LocalAdminPassword: 'local administrator password',
  LocalAdminPasswordHistory: 'local administrator password history',
  BitLockerRecoveryKey: 'BitLocker recovery keys',
};

export interface AccessServiceDependencies {
  rules: RuleService;
  devices: DeviceDirectory;
  secrets: DeviceSecrets;
  names: DirectoryNames;
  audit: AuditLog;
  limiter: ReadRateLimiter;
  settings: SettingsService;
  /** The channels as stored now. */
  channels: () => readonly DeepReadonly<ChannelRecord>[];
  queue: NotificationQueue;
  /** A notification that could not even be queued (the queue file cannot be written). */
  onNotificationError: (error: unknown) => void;
}

export class AccessService {
  /** Errors `#read` answered after recording them, so that `recordRefusal` does not record them twice. */
  readonly #audited = new WeakSet<object>();

  constructor(private readonly deps: AccessServiceDependencies) {}

  /**
   * Records a secret read refused before or outside the decision steps: a body the contract refuses
   * (malformed JSON, a lone surrogate, a wrong type), a wrong content type, or an unexpected failure.
   * Every refused read is one audit event, whatever its cause; refusals `#read` made are already recorded.
   */
  async recordRefusal(accessType: AccessType, body: unknown, caller: Caller, origin: RequestOrigin, error: unknown, status: number): Promise<void> {
    if (typeof error === 'object' && error !== null && this.#audited.has(error)) return;
    if (error instanceof AuditWriteError) return; // the trail cannot be written: the answer says so (503)
    const given = (body ?? {}) as Partial<Record<'computerName' | 'deviceId' | 'reason', unknown>>;
    const text = (value: unknown) => (typeof value === 'string' ? value.toWellFormed().slice(0, 1024) : undefined);
    const query = text(given.computerName) ?? text(given.deviceId) ?? '';
    const reason = text(given.reason);
    const client = status < 500;
    await this.deps.audit.append({
      type: 'secret.read',
      actor: auditActor(caller),
      accessType,
      ip: origin.ip,
      requestId: origin.requestId,
      ...(reason ? { reason } : {}),
      device: { query },
      outcome: {
        success: false,
        code: client ? 'InvalidRequest' : 'InternalError',
        // A client error's message says what was wrong with the request; an unexpected one stays in the log.
        message: client && error instanceof Error ? error.message.toWellFormed().slice(0, 2048) : `failed with status ${status}; the daemon's log has the cause under this request id`,
      },
    });
  }

  async localAdminPassword(request: SecretRequest, caller: Caller, origin: RequestOrigin): Promise<LocalAdminPassword> {
    return this.#read('LocalAdminPassword', request, caller, origin, async (device, refuse) => {
      const credentials = await this.deps.secrets.lapsCredentials(device);
      const current = credentials?.[0];
      if (!current) return refuse('NoLapsPassword', 404, `${device.deviceName} has no LAPS password backed up to Entra ID. Check its Windows LAPS policy (BackupDirectory = Azure AD).`);
      return { deviceName: device.deviceName, deviceId: device.deviceId, tenantId: device.tenantId, ...current };
    });
  }

  async localAdminPasswordHistory(request: SecretRequest, caller: Caller, origin: RequestOrigin): Promise<{ items: LocalAdminPassword[] }> {
    return this.#read('LocalAdminPasswordHistory', request, caller, origin, async (device, refuse) => {
      const credentials = await this.deps.secrets.lapsCredentials(device);
      if (!credentials) return refuse('NoLapsPassword', 404, `${device.deviceName} has no LAPS password backed up to Entra ID, current or previous.`);
      // The current password is its own access type: history is what came before it.
      return { items: credentials.slice(1).map(({ passwordExpirationTime: _, ...c }) => ({ deviceName: device.deviceName, deviceId: device.deviceId, tenantId: device.tenantId, ...c })) };
    });
  }

  async fveRecoveryKeys(request: SecretRequest, caller: Caller, origin: RequestOrigin): Promise<{ items: FveRecoveryKey[] }> {
    return this.#read('BitLockerRecoveryKey', request, caller, origin, async (device) => {
      const keys = await this.deps.secrets.bitLockerKeys(device);
      return {
        items: keys.map((k) => ({ deviceName: device.deviceName, deviceId: device.deviceId, tenantId: device.tenantId, keyId: k.id, volumeType: k.volumeType, createdDateTime: k.createdDateTime, key: k.key })),
      };
    });
  }

  /** What the rules decide for a user and a device, per access type; reads no secret, counts against no limit. */
  async effectiveAccess(query: { user: string; computerName?: string; deviceId?: string; tenantId?: string }): Promise<EffectiveAccess> {
    if (Boolean(query.computerName) === Boolean(query.deviceId)) {
      throw validationProblem([{ path: 'query/computerName', message: 'give computerName or deviceId (one of them)' }]);
    }
    const device = await this.deps.devices.resolve({
      ...(query.computerName ? { name: query.computerName } : { deviceId: query.deviceId! }),
      ...(query.tenantId ? { tenantId: query.tenantId } : {}),
    });
    let user;
    try {
      user = await this.deps.names.user(query.tenantId ?? device.tenantId, query.user);
    } catch (error) {
      if (error instanceof UnresolvedName) throw validationProblem([{ path: 'query/user', message: error.message }]);
      throw error;
    }
    const groups = await this.deps.secrets.memberGroups(device.tenantId, 'users', user.id);
    const decisions = await this.#decide(device, new Set([user.id, ...groups]));
    return {
      user: { principalId: user.id, displayName: user.displayName, tenantId: device.tenantId, groupCount: groups.length },
      device,
      access: ACCESS_TYPES.map((accessType) => {
        const d = decisions[accessType];
        return {
          accessType,
          allowed: d.allowed,
          code: d.code,
          ...(d.grantingRule ? { grantingRuleId: d.grantingRule.id } : {}),
          reasonRequirement: d.reasonRequirement,
          rules: d.explanation.map((e) => ({
            ruleId: e.ruleId,
            description: e.description,
            targetType: e.target,
            ...(e.targetDisplayName ? { targetDisplayName: e.targetDisplayName } : {}),
            effect: e.effect,
            allowedVia: e.allowedVia.map((p) => ({ ...p })),
            deniedVia: e.deniedVia.map((p) => ({ ...p })),
          })),
        };
      }),
    };
  }

  /**
   * One secret read, within its time budget for Entra and Graph (`secretReadTimeoutSeconds`): past it the
   * Graph step running fails as a timeout (504), which the steps below audit like any directory failure.
   */
  #read<T>(accessType: AccessType, request: SecretRequest, caller: Caller, origin: RequestOrigin, fetch: SecretFetch<T>): Promise<T> {
    const budgetMs = this.deps.settings.get().secretReadTimeoutSeconds * 1000;
    return withDeadline(budgetMs, "the secret read's time budget (secretReadTimeoutSeconds)", () => this.#readSteps(accessType, request, caller, origin, fetch));
  }

  async #readSteps<T>(accessType: AccessType, request: SecretRequest, caller: Caller, origin: RequestOrigin, fetch: SecretFetch<T>): Promise<T> {
    if (Boolean(request.computerName) === Boolean(request.deviceId)) {
      throw validationProblem([{ path: 'body/computerName', message: 'give computerName or deviceId (one of them, not both)' }]);
    }
    const base: Omit<SecretReadEventInput, 'device' | 'outcome'> = {
      type: 'secret.read',
      actor: auditActor(caller),
      accessType,
      ip: origin.ip,
      requestId: origin.requestId,
      ...(request.reason ? { reason: request.reason } : {}),
    };
    let auditDevice: AuditDevice = { query: request.computerName ?? request.deviceId! };
    let ruleIds: string[] | undefined;
    let decision: AccessDecision | undefined;
    /** Audits a refusal, tells the failure channels (queued: nothing is left to refuse), and answers it. */
    const refuse = async (
      code: ResultCode,
      status: number,
      detail: string,
      extra: Omit<NonNullable<ConstructorParameters<typeof ProblemError>[3]>, 'code'> & { auditMessage?: string; kind?: string } = {},
    ): Promise<never> => {
      const { auditMessage, kind, ...problem } = extra;
      const event = await this.deps.audit.append({ ...base, device: auditDevice, outcome: { success: false, code, message: auditMessage ?? detail, ...(ruleIds ? { ruleIds } : {}) } });
      const refusal = new ProblemError(status, kind ?? kebab(code), detail, { ...problem, code });
      this.#audited.add(refusal);
      // Rate-limit refusals are not announced: a script in a loop would flood every channel.
      if (code !== 'UserRateLimitExceeded' && code !== 'IpRateLimitExceeded') {
        this.#notify([...(decision?.failureChannels ?? []), ...this.deps.settings.get().globalChannelsFailure], event as NotificationEvent, decision);
      }
      throw refusal;
    };
    /** A Graph failure is audited as DirectoryError, then answered as Graph failures are (502/503/504). */
    const directory = async <R>(call: () => Promise<R>): Promise<R> => {
      try {
        return await call();
      } catch (error) {
        if (!(error instanceof GraphError)) throw error;
        if (this.#audited.has(error)) throw error;
        const event = await this.deps.audit.append({ ...base, device: auditDevice, outcome: { success: false, code: 'DirectoryError', message: error.message, ...(ruleIds ? { ruleIds } : {}) } });
        this.#audited.add(error);
        this.#notify([...(decision?.failureChannels ?? []), ...this.deps.settings.get().globalChannelsFailure], event as NotificationEvent, decision);
        throw error;
      }
    };

    const limit = this.deps.limiter.takeBoth(callerKey(caller), origin.ip, Date.now());
    if (!limit.allowed) {
      const who = limit.code === 'UserRateLimitExceeded' ? 'You have' : `Your address ${origin.ip} has`;
      return refuse(limit.code, 429, `${who} made too many secret requests this ${limit.window}; try again in ${limit.retryAfterSeconds} s.`, {
        headers: { 'retry-after': String(limit.retryAfterSeconds) },
      });
    }

    const device = await directory(async () => {
      try {
        return await this.deps.devices.resolve({
          ...(request.computerName ? { name: request.computerName } : { deviceId: request.deviceId! }),
          ...(request.tenantId ? { tenantId: request.tenantId } : {}),
        });
      } catch (error) {
        if (!(error instanceof ProblemError)) throw error;
        if (error.kind === 'ambiguous-device') return refuse('AmbiguousDevice', 409, error.message, { ...(error.extra.candidates ? { candidates: error.extra.candidates } : {}) });
        // No tenant to search (none enabled, or the one named is disabled or unknown) is answered as
        // GET /v1/devices answers it; the audit keeps Access Manager's code, with the reason as its message.
        return refuse('DeviceNotFound', error.status, error.message, error.kind === 'device-not-found' ? {} : { kind: error.kind });
      }
    });
    auditDevice = { deviceName: device.deviceName, deviceId: device.deviceId, objectId: device.objectId, tenantId: device.tenantId };

    const principals = await directory(() => this.#callerPrincipals(caller));
    decision = (await directory(() => this.#decide(device, principals)))[accessType];
    ruleIds = decision.allowed ? [decision.grantingRule!.id] : decision.denyingRules.length > 0 ? decision.denyingRules : decision.matchingRules;
    if (!decision.allowed) {
      const detail =
        decision.code === 'NoMatchingRuleForUser' && !caller.principalId
          ? actsAsNoUser(caller, ACCESS_NAMES[accessType], device.deviceName)
          : REFUSAL_DETAIL[decision.code]!(ACCESS_NAMES[accessType], device.deviceName);
      return refuse(decision.code, REFUSAL_STATUS[decision.code] ?? 403, detail);
    }
    if (decision.reasonRequirement === 'Required' && !request.reason?.trim()) {
      return refuse('ReasonRequired', 400, `The rule '${decision.grantingRule!.description}' asks for a reason: say why you need it (reason).`, {
        errors: [{ path: 'body/reason', message: 'is required by the rule that grants this access' }],
      });
    }

    const secret = await directory(() => fetch(device, (code, status, detail) => refuse(code, status, detail)));

    // Mandatory channels are told before the secret leaves; if one cannot be, the secret does not leave.
    const success: SecretReadEventInput = { ...base, device: auditDevice, outcome: { success: true, code: 'Success', ruleIds } };
    const successChannels = enabledChannels(this.deps.channels(), [...decision.successChannels, ...this.deps.settings.get().globalChannelsSuccess]);
    const extra = { ruleDescription: decision.grantingRule!.description };
    const mandatory = successChannels.filter((c) => c.mandatory);
    const results = await Promise.all(mandatory.map((channel) => this.deps.queue.deliverNow(channel, success, extra)));
    const failed = mandatory.flatMap((channel, i) => {
      const result = results[i]!;
      return result.ok ? [] : [{ channel, error: result.error }];
    });
    if (failed.length > 0) {
      return refuse('NotificationFailed', 503, `The secret was not returned: the notification channel ${failed.map((f) => `'${f.channel.name}'`).join(', ')} must be told of every read, and could not be. Try again later; an administrator can check it with testNotificationChannel (POST /v1/notification-channels/{id}/test).`, {
        headers: { 'retry-after': '60' },
        auditMessage: `Mandatory notification failed: ${failed.map((f) => `${f.channel.id} (${f.channel.name}): ${f.error}`).join('; ')}`,
      });
    }

    // The secret leaves only once this is on disk; if it cannot be written, AuditWriteError → 503.
    const written = await this.deps.audit.append(success);
    this.#notify(successChannels.filter((c) => !c.mandatory).map((c) => c.id), written as NotificationEvent, decision);
    return secret;
  }

  /** Queues the event for each enabled channel named; a queue that cannot be written is logged, not the caller's problem. */
  #notify(channelIds: readonly string[], event: NotificationEvent, decision: AccessDecision | undefined): void {
    const channels = enabledChannels(this.deps.channels(), channelIds);
    const extra = decision?.grantingRule ? { ruleDescription: decision.grantingRule.description } : {};
    for (const channel of channels) {
      this.deps.queue.enqueue(channel.id, event, extra).catch((error: unknown) => this.deps.onNotificationError(error));
    }
  }

  /** The caller's object id and every group it is in; an API key acting as nobody is only itself (no rule names it). */
  async #callerPrincipals(caller: Caller): Promise<Set<string>> {
    if (!caller.principalId || !caller.tenantId) return new Set([`apiKey:${caller.kind === 'apiKey' ? caller.apiKeyId : ''}`]);
    const groups = caller.kind === 'entra' && caller.tokenGroupIds ? caller.tokenGroupIds : await this.deps.secrets.memberGroups(caller.tenantId, 'users', caller.principalId);
    return new Set([caller.principalId, ...groups]);
  }

  async #decide(device: Device, principals: ReadonlySet<string>): Promise<Record<AccessType, AccessDecision>> {
    const index = this.deps.rules.index();
    const now = Date.now();
    const targeted = index.groupsToCheck(device.tenantId, now);
    let deviceGroups: ReadonlySet<string> = new Set();
    if (targeted.length > CHECK_MEMBER_GROUPS_LIMIT) {
      const all = new Set(await this.deps.secrets.memberGroups(device.tenantId, 'devices', device.objectId));
      deviceGroups = new Set(targeted.filter((g) => all.has(g)));
    } else if (targeted.length > 0) {
      deviceGroups = await this.deps.secrets.memberOf(device.tenantId, 'devices', device.objectId, targeted);
    }
    const identity = { tenantId: device.tenantId, deviceId: device.deviceId.toLowerCase(), objectId: device.objectId, deviceName: device.deviceName };
    return index.evaluateAll({ device: identity, deviceGroupIds: deviceGroups, callerPrincipalIds: principals, now });
  }
}

function kebab(code: string): string {
  return code.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase();
}
