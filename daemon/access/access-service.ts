/**
 * Secret reads, decided and recorded: the public face of the read steps (secret-read.ts), the
 * effective access of a user, and the audit event for a read refused before its steps could run.
 */
import type { components } from '../../openapi/ams.js';
import { auditActor } from '../audit/change-author.js';
import type { Caller } from '../auth/caller.js';
import { AuditWriteError, ConflictError, NotFoundError, ValidationError } from '../common/errors.js';
import { deadlineIn, type Deadline } from '../directory/deadline.js';
import type { RotationService } from '../rotation/rotation-service.js';
import type { RotationJob } from '../rotation/rotation-jobs.js';
import type { DirectoryNames } from './directory-names.js';
import { UnresolvedName } from './directory-names.js';
import type { RuleService } from './rule-service.js';
import { SecretRead, deviceIdentity, targetedDeviceGroups, type GrantedRead, type RequestOrigin, type SecretFetch, type SecretReadDependencies, type SecretRequest } from './secret-read.js';
import { ACCESS_TYPES, type AccessType } from './types.js';

export type { RequestOrigin, SecretRequest } from './secret-read.js';
export type LocalAdminPassword = components['schemas']['LocalAdminPassword'];
export type FveRecoveryKey = components['schemas']['FveRecoveryKey'];
export type EffectiveAccess = components['schemas']['EffectiveAccess'];
export type PasswordRotation = components['schemas']['PasswordRotation'];

/** What a secret read needs, with the rule service (the read needs only its index) and name resolution. */
export interface AccessServiceDependencies extends SecretReadDependencies {
  rules: RuleService;
  names: DirectoryNames;
  /** Rotation through Intune after reads and on demand. */
  rotation: RotationService;
}

/** A rotation job as Get-AmsPasswordRotation shows it. */
export function rotationView(job: RotationJob): PasswordRotation {
  const { requestedBy, reportedAt: _, ...rest } = job;
  return { ...rest, requestedBy: requestedBy.userPrincipalName ?? requestedBy.displayName };
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
    const read = this.#secretRead('LocalAdminPassword', request, caller, origin, async (device, deadline) => {
      const credentials = await this.deps.secrets.lapsCredentials(device, deadline, 'current');
      const current = credentials?.[0];
      if (!current) throw noLapsPassword(`${device.deviceName} has no LAPS password backed up to Entra ID. Check its Windows LAPS policy (BackupDirectory = Azure AD).`);
      return { deviceName: device.deviceName, deviceId: device.deviceId, tenantId: device.tenantId, ...current };
    });
    const answer = await read.run();
    const minutes = read.granted?.decision.rotateAfterReadMinutes;
    if (minutes === undefined) return answer;
    return { ...answer, ...(await this.#rotateAfterRead(read.granted!, minutes, caller, request)) };
  }

  /**
   * The granting rule rotates the password once read: a job due in `minutes` (or the device's pending
   * one), on the record before the answer says when; or, when Intune cannot rotate it, the reason,
   * on the record too. The read itself stands either way.
   */
  async #rotateAfterRead(read: GrantedRead, minutes: number, caller: Caller, request: SecretRequest): Promise<Pick<LocalAdminPassword, 'rotationScheduledAt' | 'rotationId' | 'rotationUnavailableReason'>> {
    const base = { device: read.device, trigger: 'afterRead' as const, actor: auditActor(caller), ...(request.reason ? { reason: request.reason } : {}), ruleId: read.decision.grantingRule!.id, ...(read.event.id ? { readEventId: read.event.id } : {}) };
    const why = await (read.rotatable ?? this.deps.rotation.whyNot(read.device, this.#budget()));
    if (why) {
      await this.deps.rotation.recordSkipped(base, why);
      return { rotationUnavailableReason: why };
    }
    const { job } = await this.deps.rotation.schedule({ ...base, dueAt: Date.now() + minutes * 60_000 });
    return { rotationScheduledAt: job.dueAt, rotationId: job.id };
  }

  /**
   * Reset-AmsLocalAdminPassword: decided and audited like a read (access type LocalAdminPasswordRotation;
   * administrators are allowed without a rule), refused 409 when Intune cannot rotate the device, then a
   * job due now (or the device's pending one, moved to now).
   */
  async resetLocalAdminPassword(request: SecretRequest, caller: Caller, origin: RequestOrigin): Promise<PasswordRotation> {
    const read = this.#secretRead('LocalAdminPasswordRotation', request, caller, origin, async (device, deadline) => {
      const why = await this.deps.rotation.whyNot(device, deadline);
      if (why) throw new ConflictError('rotation-unavailable', `No rotation can be made: ${why}`, { resultCode: 'RotationUnavailable' });
    });
    await read.run();
    const granted = read.granted!;
    const { job } = await this.deps.rotation.schedule({
      device: granted.device,
      trigger: 'onDemand',
      dueAt: Date.now(),
      actor: auditActor(caller),
      ...(request.reason ? { reason: request.reason } : {}),
      ...(granted.decision.grantingRule ? { ruleId: granted.decision.grantingRule.id } : {}),
      ...(granted.event.id ? { readEventId: granted.event.id } : {}),
    });
    return rotationView(job);
  }

  async passwordRotations(query: { status?: RotationJob['status']; computerName?: string; deviceId?: string; tenantId?: string; top?: number }): Promise<{ items: PasswordRotation[] }> {
    const jobs = await this.deps.rotation.list({
      ...(query.status ? { status: query.status } : {}),
      ...(query.computerName ? { deviceName: query.computerName } : {}),
      ...(query.deviceId ? { deviceId: query.deviceId.toLowerCase() } : {}),
      ...(query.tenantId ? { tenantId: query.tenantId.toLowerCase() } : {}),
      limit: query.top ?? 100,
    });
    return { items: jobs.map(rotationView) };
  }

  async localAdminPasswordHistory(request: SecretRequest, caller: Caller, origin: RequestOrigin): Promise<{ items: LocalAdminPassword[] }> {
    return this.#read('LocalAdminPasswordHistory', request, caller, origin, async (device, deadline) => {
      const credentials = await this.deps.secrets.lapsCredentials(device, deadline);
      if (!credentials) throw noLapsPassword(`${device.deviceName} has no LAPS password backed up to Entra ID, current or previous.`);
      // The current password is its own access type: history is what came before it.
      return { items: credentials.slice(1).map(({ passwordExpirationTime: _, ...c }) => ({ deviceName: device.deviceName, deviceId: device.deviceId, tenantId: device.tenantId, ...c })) };
    });
  }

  async fveRecoveryKeys(request: SecretRequest, caller: Caller, origin: RequestOrigin): Promise<{ items: FveRecoveryKey[] }> {
    return this.#read('BitLockerRecoveryKey', request, caller, origin, async (device, deadline) => {
      const keys = await this.deps.secrets.bitLockerKeys(device, deadline);
      return {
        items: keys.map((k) => ({ deviceName: device.deviceName, deviceId: device.deviceId, tenantId: device.tenantId, keyId: k.id, volumeType: k.volumeType, createdDateTime: k.createdDateTime, key: k.key })),
      };
    });
  }

  /** What the rules decide for a user and a device, per access type; reads no secret, counts against no limit. */
  async effectiveAccess(query: { user: string; computerName?: string; deviceId?: string; tenantId?: string }): Promise<EffectiveAccess> {
    if (Boolean(query.computerName) === Boolean(query.deviceId)) {
      throw new ValidationError([{ path: 'query/computerName', message: 'give computerName or deviceId (one of them)' }]);
    }
    const device = await this.deps.devices.resolve({
      ...(query.computerName ? { name: query.computerName } : { deviceId: query.deviceId! }),
      ...(query.tenantId ? { tenantId: query.tenantId } : {}),
    });
    let user;
    try {
      user = await this.deps.names.user(query.tenantId ?? device.tenantId, query.user);
    } catch (error) {
      if (error instanceof UnresolvedName) throw new ValidationError([{ path: 'query/user', message: error.message }]);
      throw error;
    }
    const groups = await this.deps.secrets.memberGroups(device.tenantId, 'users', user.id);
    const index = this.deps.rules.index();
    const now = Date.now();
    const deviceGroupIds = await targetedDeviceGroups(this.deps.secrets, index, device, now);
    const decisions = index.evaluateAll({ device: deviceIdentity(device), deviceGroupIds, callerPrincipalIds: new Set([user.id, ...groups]), now });
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
          ...(d.rotateAfterReadMinutes !== undefined ? { rotateAfterReadMinutes: d.rotateAfterReadMinutes } : {}),
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
   * Graph step running fails as a timeout (504), which the read's steps audit like any directory failure.
   */
  #read<T>(accessType: AccessType, request: SecretRequest, caller: Caller, origin: RequestOrigin, fetch: SecretFetch<T>): Promise<T> {
    return this.#secretRead(accessType, request, caller, origin, fetch).run();
  }

  #secretRead<T>(accessType: AccessType, request: SecretRequest, caller: Caller, origin: RequestOrigin, fetch: SecretFetch<T>): SecretRead<T> {
    if (Boolean(request.computerName) === Boolean(request.deviceId)) {
      throw new ValidationError([{ path: 'body/computerName', message: 'give computerName or deviceId (one of them, not both)' }]);
    }
    return new SecretRead(this.deps, this.#audited, accessType, request, caller, origin, fetch, this.#budget());
  }

  #budget(): Deadline {
    return deadlineIn(this.deps.settings.get().secretReadTimeoutSeconds * 1000, "the secret read's time budget (secretReadTimeoutSeconds)");
  }
}

/** A refusal the secret step finds: Entra ID holds no LAPS backup for the device. */
function noLapsPassword(detail: string): NotFoundError {
  return new NotFoundError('no-laps-password', detail, { resultCode: 'NoLapsPassword' });
}
