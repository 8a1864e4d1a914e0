/**
 * Rotation jobs: a request that Intune rotate one device's Windows LAPS password, made after a read
 * whose granting rule says so (`rotateAfterReadMinutes`) or on demand (Reset-AmsLocalAdminPassword).
 * Jobs are persistent (they survive restarts), retried with backoff, and listed by
 * Get-AmsPasswordRotation. They live in the store: a file in the data directory (file-jobs.ts), or a
 * table shared by every daemon on one PostgreSQL (postgres-jobs.ts), where each job is run by one daemon.
 * Both keep every pending job and every failed job not yet reported; of the finished others, the newest
 * 1,000 of the last 30 days (job-checks.ts: RotationRetention).
 */
import type { AuditActor } from '../audit/events.js';

export const ROTATION_STATUSES = ['pending', 'done', 'failed'] as const;
export type RotationStatus = (typeof ROTATION_STATUSES)[number];

/** `afterRead`: a granting rule's rotateAfterReadMinutes; `onDemand`: Reset-AmsLocalAdminPassword. */
export type RotationTrigger = 'afterRead' | 'onDemand';

export interface RotationJob {
  id: string;
  tenantId: string;
  /** The Entra deviceId, lower-case: at most one pending job per (tenantId, deviceId). */
  deviceId: string;
  deviceName: string;
  status: RotationStatus;
  trigger: RotationTrigger;
  /** Who caused it: the reader, or who asked for it. */
  requestedBy: AuditActor;
  reason?: string;
  /** The granting rule (afterRead), or the rule that allowed the request (onDemand, not for admins). */
  ruleId?: string;
  /** The audit event (id) of the read or request that scheduled it. */
  auditEventId?: string;
  createdAt: string;
  /** When the next attempt is due (pending); when it was last due (done, failed). */
  dueAt: string;
  /** Attempts made so far. */
  attempts: number;
  lastAttemptAt?: string;
  /** The last attempt's failure, as it can be shown to an admin (no secret). */
  lastError?: string;
  /** Intune's managed device id, once found. */
  managedDeviceId?: string;
  /** When Intune accepted the action (done) or the job was given up (failed). */
  completedAt?: string;
  /** When a final failure was put on the audit trail and told to the failure channels. */
  reportedAt?: string;
}

/** What scheduling a job gives; the store adds id, status, attempts. */
export type NewRotationJob = Omit<RotationJob, 'id' | 'status' | 'attempts' | 'lastAttemptAt' | 'lastError' | 'managedDeviceId' | 'completedAt' | 'reportedAt'>;

/** What an attempt changes. */
export type RotationJobChange = Partial<Pick<RotationJob, 'status' | 'dueAt' | 'attempts' | 'lastAttemptAt' | 'lastError' | 'managedDeviceId' | 'completedAt' | 'reportedAt'>>;

export interface RotationJobFilter {
  status?: RotationStatus;
  /** Case-insensitive, the whole name. */
  deviceName?: string;
  deviceId?: string;
  tenantId?: string;
  /** At most this many, newest first (default 100). */
  limit?: number;
}

export interface RotationJobStore {
  /**
   * A new pending job, or the device's pending one (same tenantId and deviceId) with its dueAt moved to
   * the earlier of the two: reading a password twice within the delay schedules one rotation. Durable
   * once it resolves. `created` says which. The device id is kept in lower case; the pending job's
   * other fields stay as they were.
   */
  schedule(job: NewRotationJob): Promise<{ job: RotationJob; created: boolean }>;
  /**
   * Pending jobs due at `now`, oldest due first, at most `limit`, each claimed for `leaseMs`: no other
   * claim (by this daemon or another on the same database) gets it until the lease ends or it is updated.
   */
  claimDue(now: number, limit: number, leaseMs: number): Promise<RotationJob[]>;
  /**
   * Records an attempt's outcome and ends the job's lease; undefined when there is no such job. A field
   * given as undefined is removed. A finished job is never made pending again (RotationJobCheckError):
   * its device may have a newer pending job, and an attempt that outlived its lease must not undo another's.
   */
  update(id: string, change: RotationJobChange): Promise<RotationJob | undefined>;
  get(id: string): Promise<RotationJob | undefined>;
  /** Newest first (by createdAt). */
  list(filter?: RotationJobFilter): Promise<RotationJob[]>;
  /**
   * Failed jobs whose failure was not yet reported (reportedAt absent), oldest failure first. Not a
   * claim: two daemons on one database asking at once both get the same jobs.
   */
  unreported(): Promise<RotationJob[]>;
  /**
   * The earliest dueAt of a pending job (ms since the epoch), for the worker's timer; a claimed job
   * counts from when its lease ends, so that the timer does not wake for a job that is being attempted.
   */
  nextDueAt(): Promise<number | undefined>;
}
