/**
 * What both rotation job stores (file-jobs.ts, postgres-jobs.ts) share, so that they answer alike: the
 * schema a job is checked with before it is written (nothing is written that could not be loaded
 * again), how a change is applied to a job, the orders jobs are listed and claimed in, and how many
 * finished jobs are kept.
 */
import { describeSchemaErrors } from '../common/durable-files.js';
import { fileValidator } from '../common/precompiled-validators.js';
import { ROTATION_STATUSES, type RotationJob, type RotationJobChange } from './rotation-jobs.js';

/** How the job schemas are compiled, here and by the build (scripts/build-contract.ts). */
export const ROTATION_VALIDATION_OPTIONS = { allErrors: true, strict: true };

const dateTime = { type: 'string', format: 'date-time' } as const;
const text = { type: 'string', minLength: 1 } as const;

export const rotationJobSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'tenantId', 'deviceId', 'deviceName', 'status', 'trigger', 'requestedBy', 'createdAt', 'dueAt', 'attempts'],
  properties: {
    id: text,
    tenantId: text,
    deviceId: text,
    deviceName: text,
    status: { enum: [...ROTATION_STATUSES] },
    trigger: { enum: ['afterRead', 'onDemand'] },
    // The audit trail's actor: checked as far as the jobs need it, so that an actor the audit trail
    // grows a field for is still stored.
    requestedBy: {
      type: 'object',
      required: ['kind', 'id', 'displayName', 'role'],
      properties: { kind: { type: 'string' }, id: { type: 'string' }, displayName: { type: 'string' }, role: { type: 'string' } },
    },
    reason: { type: 'string' },
    ruleId: { type: 'string' },
    auditEventId: { type: 'string' },
    createdAt: dateTime,
    dueAt: dateTime,
    attempts: { type: 'integer', minimum: 0 },
    lastAttemptAt: dateTime,
    lastError: { type: 'string' },
    managedDeviceId: { type: 'string' },
    completedAt: dateTime,
    reportedAt: dateTime,
  },
} as const;

const validateJob = fileValidator<RotationJob>(rotationJobSchema, ROTATION_VALIDATION_OPTIONS);

/** A job would have been written that amsd could not load again (a bug let a value through). Nothing was written. */
export class RotationJobCheckError extends Error {
  constructor(problems: string) {
    super(`The rotation job was not written: it does not match the job schema (${problems}), so amsd could not load it again.`);
    this.name = 'RotationJobCheckError';
  }
}

/** The problems of a job as the next load would see them, or undefined when it is good. */
export function jobProblems(job: unknown, at = ''): string | undefined {
  if (validateJob(job)) return undefined;
  return describeSchemaErrors(validateJob.errors?.map((e) => ({ ...e, instancePath: at + e.instancePath })));
}

/** The job, when it can be written; RotationJobCheckError otherwise. */
export function checkedJob(job: RotationJob): RotationJob {
  const problems = jobProblems(job);
  if (problems) throw new RotationJobCheckError(problems);
  return job;
}

/**
 * The job after `change`: a field given as undefined is removed (lastError once an attempt succeeds).
 * A finished job never becomes pending again: there may be a newer pending job for its device by now
 * (at most one per device), and an attempt that outlived its lease must not undo another's outcome.
 */
export function changedJob(job: RotationJob, change: RotationJobChange): RotationJob {
  if (job.status !== 'pending' && change.status === 'pending') {
    throw new RotationJobCheckError(`job ${job.id} is ${job.status}; a finished job is not made pending again`);
  }
  const next: Record<string, unknown> = { ...job };
  for (const [key, value] of Object.entries(change)) {
    if (value === undefined) delete next[key];
    else next[key] = value;
  }
  return checkedJob(next as unknown as RotationJob);
}

/** The job as scheduled: lower-case device id, the store's id, pending, no attempt yet. */
export function newJob(id: string, job: Omit<RotationJob, 'id' | 'status' | 'attempts'>): RotationJob {
  // A field given as undefined is not there, as it would not be once written and read again.
  const given = Object.fromEntries(Object.entries(job).filter(([, value]) => value !== undefined)) as typeof job;
  return checkedJob({ ...given, id, deviceId: job.deviceId.toLowerCase(), status: 'pending', attempts: 0 });
}

export const DEFAULT_LIST_LIMIT = 100;

/** How many finished (done, failed) jobs are kept, and for how long. Pending and unreported failed jobs are always kept. */
export interface RotationRetention {
  /** The newest this many finished jobs are kept (default 1,000). */
  maxFinished?: number;
  /** Finished jobs older than this are removed (default 30 days). */
  maxAgeMs?: number;
}
export const DEFAULT_MAX_FINISHED = 1000;
export const DEFAULT_FINISHED_MAX_AGE_MS = 30 * 24 * 3_600_000;

/** Time as the stores see it (retention); tests pass one they move by hand. */
export interface RotationClock {
  now(): number;
}
export const systemRotationClock: RotationClock = { now: () => Date.now() };

/** When a finished job finished: when Intune accepted it or it was given up, else when it was last due. */
export function finishedAt(job: RotationJob): number {
  return Date.parse(job.completedAt ?? job.dueAt);
}

/** Whether retention may remove the job: finished, and (when failed) reported. */
export function removable(job: RotationJob): boolean {
  return job.status === 'done' || (job.status === 'failed' && job.reportedAt !== undefined);
}

const byId = (a: RotationJob, b: RotationJob) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Claim order: the earliest due first (then the oldest, then by id). */
export function dueFirst(a: RotationJob, b: RotationJob): number {
  return Date.parse(a.dueAt) - Date.parse(b.dueAt) || Date.parse(a.createdAt) - Date.parse(b.createdAt) || byId(a, b);
}

/** List order: the newest first (by createdAt, then id). */
export function newestFirst(a: RotationJob, b: RotationJob): number {
  return Date.parse(b.createdAt) - Date.parse(a.createdAt) || byId(b, a);
}

/** Report order: the oldest finished first. */
export function finishedFirst(a: RotationJob, b: RotationJob): number {
  return finishedAt(a) - finishedAt(b) || Date.parse(a.createdAt) - Date.parse(b.createdAt) || byId(a, b);
}

/** `limit` as a count of jobs: the default when absent, never negative. */
export function listLimit(limit: number | undefined): number {
  return Math.max(0, Math.floor(limit ?? DEFAULT_LIST_LIMIT));
}
