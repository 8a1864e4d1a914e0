/**
 * Rotation of Windows LAPS passwords through Intune: whether a device's password can be rotated (asked
 * while a read runs, so that its answer can say), scheduling a job (once per device while one is
 * pending), and the worker that runs due jobs, retrying what Intune may recover from (429 and 5xx,
 * honouring Retry-After, with backoff and jitter) and giving up on what it will not (the device is not
 * managed, the app lacks the permission). Every step is on the audit trail; a final failure is told to
 * the failure channels. On PostgreSQL several daemons run workers on one job table: a claim's lease
 * makes each job run by one daemon at a time.
 */
import { randomUUID } from 'node:crypto';
import type { AuditTrail } from '../audit/audit-trail.js';
import type { AuditActor, AuditDeviceFound, AuditEvent, RotationEventInput } from '../audit/events.js';
import { GraphError, NotFoundError } from '../common/errors.js';
import { deadlineIn, type Deadline } from '../directory/deadline.js';
import type { Device } from '../directory/devices.js';
import { TtlCache } from '../directory/ttl-cache.js';
import { backoffWait, systemClock, type Clock } from '../notifications/queue.js';
import type { NotificationEvent } from '../notifications/templates.js';
import type { NewRotationJob, RotationJob, RotationJobFilter, RotationJobStore, RotationTrigger } from './rotation-jobs.js';

/** What the service asks of Intune (intune.ts, through the tenant's Graph client). */
export interface IntuneActions {
  /** Intune's id of the device, or undefined when Intune does not manage it. */
  findManagedDevice(tenantId: string, entraDeviceId: string, deadline?: Deadline): Promise<string | undefined>;
  rotate(tenantId: string, managedDeviceId: string): Promise<void>;
  /** Whether the tenant's app holds the permission to rotate (asked without rotating anything). */
  mayRotate(tenantId: string, deadline?: Deadline): Promise<boolean>;
}

export interface RotationServiceOptions {
  jobs: RotationJobStore;
  audit: AuditTrail;
  intune: IntuneActions;
  /** Tells a rotation's final failure to the failure channels of its rule and the global ones. */
  notifyFailure: (event: NotificationEvent, ruleId: string | undefined) => void;
  clock?: Clock;
  random?: () => number;
  /** Waits before the 2nd, 3rd, ... attempt (the last repeats); a Retry-After longer than the step is waited instead. */
  backoffMs?: readonly number[];
  maxAttempts?: number;
  /** How long a claimed job is this daemon's (an attempt takes far less). */
  leaseMs?: number;
  /** How often the worker looks for jobs other daemons scheduled (PostgreSQL). */
  pollMs?: number;
  /** How long a device's Intune status and a tenant's permission are remembered for reads. */
  lookupCacheMs?: number;
  /** Jobs run at once. */
  concurrency?: number;
  /** How long a read waits to learn whether Intune can rotate (within the read's own budget); past it, the job finds out. */
  readCheckMs?: number;
  onError?: (error: unknown) => void;
}

export const DEFAULT_ROTATION_BACKOFF_MS: readonly number[] = [30_000, 120_000, 600_000, 1_800_000, 3_600_000];
export const DEFAULT_ROTATION_MAX_ATTEMPTS = 10;
const ROTATE_PERMISSION = 'DeviceManagementManagedDevices.PrivilegedOperations.All';
const READ_PERMISSION = 'DeviceManagementManagedDevices.Read.All';

/** Why a device's password cannot be rotated through Intune, as the answer, the audit and the job say it. */
export const NOT_MANAGED = (device: string) => `${device} is not managed by Intune, so its LAPS password cannot be rotated remotely; rotate it on the device (Reset-LapsPassword) if policy requires.`;
export const NO_PERMISSION = `the tenant's app registration lacks the application permission ${ROTATE_PERMISSION} (admin-consented), which Intune requires to rotate a LAPS password; testTenant (POST /v1/tenants/{tenantId}/test) checks it.`;
export const NO_READ_PERMISSION = `the tenant's app registration lacks the application permission ${READ_PERMISSION}, needed to find the device in Intune; testTenant (POST /v1/tenants/{tenantId}/test) checks it.`;

/** `forbidden`: the app may not look devices up in Intune; `unknown`: Intune could not be asked now. */
type ManagedLookup = 'managed' | 'notManaged' | 'forbidden' | 'unknown';

export interface ScheduleRequest {
  device: Device;
  trigger: RotationTrigger;
  dueAt: number;
  actor: AuditActor;
  reason?: string;
  ruleId?: string;
  /** The read's or request's audit event. */
  readEventId?: string;
}

export class RotationService {
  readonly #options: RotationServiceOptions;
  readonly #clock: Clock;
  readonly #managed: TtlCache<ManagedLookup>;
  readonly #permitted: TtlCache<boolean>;
  readonly #inFlight = new Map<string, Promise<void>>();
  #running = false;
  /** A look for due jobs was asked for while one ran: another follows it. */
  #again = false;
  #cancelTimer: (() => void) | undefined;
  #ticking: Promise<void> | undefined;

  constructor(options: RotationServiceOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#managed = new TtlCache(options.lookupCacheMs ?? 300_000);
    this.#permitted = new TtlCache(options.lookupCacheMs ?? 300_000);
  }

  /**
   * Why a rotation of this device cannot happen, or undefined when it can (or Intune could not be asked
   * now: the job will ask again). Asked while a read fetches the secret; cached, so a device read often
   * costs Intune nothing.
   */
  async whyNot(device: Device, readDeadline?: Deadline): Promise<string | undefined> {
    // A slow Intune must not hold the password back for the read's whole budget.
    const own = deadlineIn(this.#options.readCheckMs ?? 5_000, 'the rotation check', this.#clock.now());
    const deadline = readDeadline && readDeadline.at < own.at ? readDeadline : own;
    const [permitted, managed] = await Promise.all([this.#mayRotate(device.tenantId, deadline), this.#managedDevice(device, deadline)]);
    if (permitted === false) return NO_PERMISSION;
    if (managed === 'forbidden') return NO_READ_PERMISSION;
    if (managed === 'notManaged') return NOT_MANAGED(device.deviceName);
    return undefined;
  }

  async #mayRotate(tenantId: string, deadline?: Deadline): Promise<boolean | undefined> {
    const known = this.#permitted.get(tenantId, this.#clock.now());
    if (known !== undefined) return known;
    try {
      const permitted = await this.#options.intune.mayRotate(tenantId, deadline);
      this.#permitted.set(tenantId, permitted, this.#clock.now());
      return permitted;
    } catch {
      return undefined; // Intune could not be asked now: not a reason to say no
    }
  }

  /** Whether Intune manages the device, as far as can be found out now. */
  async #managedDevice(device: Device, deadline?: Deadline): Promise<ManagedLookup> {
    const key = `${device.tenantId}/${device.deviceId.toLowerCase()}`;
    const known = this.#managed.get(key, this.#clock.now());
    if (known !== undefined) return known;
    try {
      const found: ManagedLookup = (await this.#options.intune.findManagedDevice(device.tenantId, device.deviceId, deadline)) ? 'managed' : 'notManaged';
      this.#managed.set(key, found, this.#clock.now());
      return found;
    } catch (error) {
      return error instanceof GraphError && error.kind === 'forbidden' ? 'forbidden' : 'unknown';
    }
  }

  /** A rotation that cannot happen, on the record with why (the read still succeeded). */
  async recordSkipped(request: Omit<ScheduleRequest, 'dueAt'>, why: string): Promise<void> {
    await this.#options.audit.append(this.#event('rotation.skipped', request.device, request.actor, request.reason, { trigger: request.trigger, error: why, ...ids(request) }));
  }

  /**
   * Schedules a rotation, or joins the device's pending one (moved earlier if this one is due first).
   * A new job is on the audit trail before this resolves; the worker is woken for it.
   */
  async schedule(request: ScheduleRequest): Promise<{ job: RotationJob; created: boolean }> {
    const now = new Date(this.#clock.now()).toISOString();
    const job: NewRotationJob = {
      tenantId: request.device.tenantId,
      deviceId: request.device.deviceId.toLowerCase(),
      deviceName: request.device.deviceName,
      trigger: request.trigger,
      requestedBy: request.actor,
      ...(request.reason ? { reason: request.reason } : {}),
      ...(request.ruleId ? { ruleId: request.ruleId } : {}),
      ...(request.readEventId ? { auditEventId: request.readEventId } : {}),
      createdAt: now,
      dueAt: new Date(request.dueAt).toISOString(),
    };
    const scheduled = await this.#options.jobs.schedule(job);
    if (scheduled.created) {
      await this.#options.audit.append(
        this.#event('rotation.scheduled', request.device, request.actor, request.reason, { jobId: scheduled.job.id, trigger: request.trigger, dueAt: scheduled.job.dueAt, ...ids(request) }),
      );
    }
    this.#wake();
    return scheduled;
  }

  list(filter?: RotationJobFilter): Promise<RotationJob[]> {
    return this.#options.jobs.list(filter);
  }

  /** Starts running due jobs, and reports final failures not yet reported (a crash between the two). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#reportUnreported();
    this.#wake();
  }

  /** Stops taking up jobs and waits for those running; what is left stays in the store. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    await this.idle();
  }

  /** Resolves when no job is running. */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0 || this.#ticking) await Promise.allSettled([...this.#inFlight.values(), this.#ticking]);
  }

  /** Looks for due jobs now (after a schedule, or when the timer fires). */
  #wake(): void {
    if (!this.#running) return;
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    this.#ticking = this.#tick()
      .catch((error: unknown) => this.#options.onError?.(error))
      .finally(() => {
        this.#ticking = undefined;
        if (this.#again) {
          this.#again = false;
          this.#wake();
        }
      });
  }

  async #tick(): Promise<void> {
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    const poll = this.#options.pollMs ?? 30_000;
    let wait = poll;
    try {
      const room = (this.#options.concurrency ?? 4) - this.#inFlight.size;
      if (room > 0) {
        for (const job of await this.#options.jobs.claimDue(this.#clock.now(), room, this.#options.leaseMs ?? 120_000)) {
          if (this.#inFlight.has(job.id)) continue;
          const run = this.#attempt(job)
            .catch((error: unknown) => this.#options.onError?.(error))
            .finally(() => {
              this.#inFlight.delete(job.id);
              this.#wake();
            });
          this.#inFlight.set(job.id, run);
        }
      }
      // The next due job, or a look for jobs another daemon scheduled, whichever is first.
      const next = await this.#options.jobs.nextDueAt();
      if (next !== undefined) wait = Math.max(50, Math.min(poll, next - this.#clock.now()));
    } finally {
      // Also when the store could not be asked (a database away): the worker looks again later.
      if (this.#running) this.#cancelTimer = this.#clock.setTimer(() => this.#wake(), wait);
    }
  }

  /** One attempt: find the device in Intune (once), ask for the rotation, record what happened. */
  async #attempt(job: RotationJob): Promise<void> {
    const attempts = job.attempts + 1;
    const at = new Date(this.#clock.now()).toISOString();
    let managedDeviceId = job.managedDeviceId;
    try {
      managedDeviceId ??= await this.#options.intune.findManagedDevice(job.tenantId, job.deviceId);
      if (!managedDeviceId) return await this.#fail(job, { attempts, lastAttemptAt: at }, NOT_MANAGED(job.deviceName));
      await this.#options.intune.rotate(job.tenantId, managedDeviceId);
    } catch (error) {
      const change = { attempts, lastAttemptAt: at, ...(managedDeviceId ? { managedDeviceId } : {}) };
      const final = finalReason(error, job);
      // What the job learnt, reads learn too: their answers then say so at once.
      if (final === NO_PERMISSION) this.#permitted.set(job.tenantId, false, this.#clock.now());
      if (final) return await this.#fail(job, change, final);
      const message = (error as Error).message;
      if (attempts >= (this.#options.maxAttempts ?? DEFAULT_ROTATION_MAX_ATTEMPTS)) return await this.#fail(job, change, `gave up after ${attempts} attempts: ${message}`);
      await this.#options.jobs.update(job.id, { ...change, lastError: message, dueAt: new Date(this.#clock.now() + this.#retryWait(attempts, error)).toISOString() });
      return;
    }
    await this.#options.jobs.update(job.id, { status: 'done', attempts, lastAttemptAt: at, managedDeviceId, completedAt: new Date(this.#clock.now()).toISOString() });
    await this.#options.audit.append(this.#event('rotation.completed', deviceOf(job), SYSTEM, undefined, { jobId: job.id, trigger: job.trigger, attempts, managedDeviceId, ...ids(job) }));
  }

  /** The backoff step with jitter, or Intune's Retry-After when that is longer. */
  #retryWait(attempts: number, error: unknown): number {
    const backoff = backoffWait({ backoffMs: this.#options.backoffMs ?? DEFAULT_ROTATION_BACKOFF_MS, ...(this.#options.random ? { random: this.#options.random } : {}) }, attempts);
    const retryAfter = error instanceof GraphError && error.details.retryAfterSeconds !== undefined ? error.details.retryAfterSeconds * 1000 : 0;
    return Math.max(backoff, retryAfter);
  }

  async #fail(job: RotationJob, change: Partial<RotationJob>, why: string): Promise<void> {
    const failed = await this.#options.jobs.update(job.id, { ...change, status: 'failed', lastError: why, completedAt: new Date(this.#clock.now()).toISOString() });
    if (failed) await this.#report(failed);
  }

  /** A final failure, on the audit trail and told to the failure channels, then marked reported. */
  async #report(job: RotationJob): Promise<void> {
    const written = await this.#options.audit.append(
      this.#event('rotation.failed', deviceOf(job), SYSTEM, undefined, { jobId: job.id, trigger: job.trigger, attempts: job.attempts, error: job.lastError ?? 'failed', ...(job.managedDeviceId ? { managedDeviceId: job.managedDeviceId } : {}), ...ids(job) }),
    );
    this.#options.notifyFailure(failureNotice(job, written), job.ruleId);
    await this.#options.jobs.update(job.id, { reportedAt: new Date(this.#clock.now()).toISOString() });
  }

  async #reportUnreported(): Promise<void> {
    try {
      for (const job of await this.#options.jobs.unreported()) await this.#report(job);
    } catch (error) {
      this.#options.onError?.(error);
    }
  }

  #event(type: RotationEventInput['type'], device: AuditDeviceFound, actor: AuditActor, reason: string | undefined, rotation: RotationEventInput['rotation']): RotationEventInput {
    return { type, actor, device: { ...device }, ...(reason ? { reason } : {}), requestId: randomUUID(), rotation };
  }
}

/** The daemon itself, for what the worker records. */
const SYSTEM: AuditActor = { kind: 'system', id: 'amsd', displayName: 'amsd (password rotation)', role: 'admin' };

function ids(from: { ruleId?: string; readEventId?: string; auditEventId?: string }) {
  const readEventId = from.readEventId ?? from.auditEventId;
  return { ...(from.ruleId ? { ruleId: from.ruleId } : {}), ...(readEventId ? { readEventId } : {}) };
}

function deviceOf(job: RotationJob): AuditDeviceFound {
  return { deviceName: job.deviceName, deviceId: job.deviceId, tenantId: job.tenantId };
}

/** Why an attempt's failure ends the job, or undefined when Intune may do it later (429, 5xx, timeouts, broken connections). */
function finalReason(error: unknown, job: RotationJob): string | undefined {
  if (error instanceof NotFoundError) return `the tenant ${job.tenantId} is no longer configured: ${error.message}`;
  if (!(error instanceof GraphError)) return undefined;
  if (error.kind === 'forbidden') return error.details.permission === READ_PERMISSION ? NO_READ_PERMISSION : NO_PERMISSION;
  if (error.kind === 'notFound') return NOT_MANAGED(job.deviceName);
  if (error.kind === 'failed' && error.details.status !== undefined && error.details.status < 500) return `Intune refused the rotation: ${error.message}`;
  return undefined;
}

/**
 * A final failure as the failure channels' templates read it: in a refused request's shape, with the
 * access type LocalAdminPasswordRotation, the event id 4051 and the rotation.failed record's id and time.
 */
function failureNotice(job: RotationJob, written: AuditEvent): NotificationEvent {
  return {
    type: 'rotation.failed',
    actor: job.requestedBy,
    accessType: 'LocalAdminPasswordRotation',
    device: deviceOf(job),
    outcome: { success: false, code: 'DirectoryError', message: `The rotation of the LAPS password of ${job.deviceName} failed: ${job.lastError ?? 'failed'}`, ...(job.ruleId ? { ruleIds: [job.ruleId] } : {}) },
    ...(job.reason ? { reason: job.reason } : {}),
    id: written.id,
    seq: written.seq,
    time: written.time,
    eventId: written.eventId,
  };
}
