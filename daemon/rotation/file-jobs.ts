/**
 * The rotation jobs of the embedded store: `<dataDir>/rotations/jobs.json`, read and written by the
 * one daemon that holds the data directory's lock.
 *
 * - Durable: a change resolves once the file holds it (temporary file, fsync, rename, directory
 *   fsync); changes are made one at a time, in the order asked.
 * - Claims (leases) are kept in memory: one process works the jobs, and a restart ends every lease,
 *   which is what a lease is for (a job whose attempt died with the process is taken up again).
 * - Kept: every pending job and every failed job not yet reported; of the others, the newest 1,000
 *   finished in the last 30 days (`retention`).
 * - A file that cannot be read, is not JSON, or does not match its schema stops the daemon with
 *   `RotationJobsLoadError`; it is never reset, since it holds rotations not yet made.
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UntrustedFileError, atomicWrite, describeSchemaErrors, loadVersionedJson, removeLeftoverTempFiles } from '../common/durable-files.js';
import { fileValidator } from '../common/precompiled-validators.js';
import { SerialQueue } from '../common/serial.js';
import {
  DEFAULT_FINISHED_MAX_AGE_MS,
  DEFAULT_MAX_FINISHED,
  ROTATION_VALIDATION_OPTIONS,
  changedJob,
  dueFirst,
  finishedAt,
  finishedFirst,
  listLimit,
  newJob,
  newestFirst,
  removable,
  rotationJobSchema,
  systemRotationClock,
  type RotationClock,
  type RotationRetention,
} from './job-checks.js';
import type { NewRotationJob, RotationJob, RotationJobChange, RotationJobFilter, RotationJobStore } from './rotation-jobs.js';

export const ROTATION_DIR = 'rotations';
export const ROTATION_JOBS_FILE = 'jobs.json';
const JOBS_VERSION = 1;

export function rotationJobsFilePath(dataDir: string): string {
  return join(dataDir, ROTATION_DIR, ROTATION_JOBS_FILE);
}

interface JobsFileContent {
  version: typeof JOBS_VERSION;
  /** In the order they were scheduled. */
  jobs: RotationJob[];
}

export const rotationJobsFileSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'jobs'],
  properties: {
    version: { const: JOBS_VERSION },
    jobs: { type: 'array', items: rotationJobSchema },
  },
} as const;
const validateJobsFile = fileValidator<JobsFileContent>(rotationJobsFileSchema, ROTATION_VALIDATION_OPTIONS);

/** The jobs file exists but cannot be used. The daemon stops with this message; the file is left as it is. */
export class RotationJobsLoadError extends Error {
  constructor(readonly file: string, problem: string) {
    super(
      `The password rotation jobs ${file} cannot be used: ${problem}. amsd has not changed it: it holds password rotations ` +
        'not yet made. Repair it from a backup, or move it away to start with no rotation jobs (the rotations it held are then not made).',
    );
    this.name = 'RotationJobsLoadError';
  }
}

/** What the schema cannot say: ids are unique, and a device has at most one pending job. */
function consistencyProblems(content: JobsFileContent): string | undefined {
  const ids = new Set<string>();
  const pending = new Set<string>();
  for (const [index, job] of content.jobs.entries()) {
    if (ids.has(job.id)) return `/jobs/${index} has the id ${job.id} of an earlier job`;
    ids.add(job.id);
    if (job.status !== 'pending') continue;
    const device = deviceKey(job);
    if (pending.has(device)) return `/jobs/${index} is a second pending job for the device ${job.deviceId} of tenant ${job.tenantId}`;
    pending.add(device);
  }
  return undefined;
}

async function loadJobsFile(file: string): Promise<JobsFileContent | undefined> {
  let problems = '';
  try {
    return await loadVersionedJson(file, {
      versionField: 'version',
      version: JOBS_VERSION,
      versionName: 'jobs file version',
      check: (raw): raw is JobsFileContent => {
        problems = validateJobsFile(raw) ? (consistencyProblems(raw) ?? '') : describeSchemaErrors(validateJobsFile.errors);
        return problems === '';
      },
      problems: () => problems,
    });
  } catch (error) {
    if (error instanceof UntrustedFileError) throw new RotationJobsLoadError(file, error.problem);
    throw error;
  }
}

/**
 * Each job's line, made once: a job is never changed in place (a change replaces it), and serializing
 * a thousand jobs anew for every change was most of a change's CPU.
 */
const jobLines = new WeakMap<RotationJob, string>();

/** One job a line: a thousand jobs stay readable (and repairable) without the size of indented JSON. */
function fileText(jobs: readonly RotationJob[]): string {
  const lines = jobs.map((job) => {
    let line = jobLines.get(job);
    if (line === undefined) jobLines.set(job, (line = JSON.stringify(job)));
    return line;
  });
  return `{"version":${JOBS_VERSION},"jobs":[${jobs.length > 0 ? `\n${lines.join(',\n')}\n` : ''}]}\n`;
}

const deviceKey = (job: Pick<RotationJob, 'tenantId' | 'deviceId'>) => `${job.tenantId}\n${job.deviceId.toLowerCase()}`;

export interface FileRotationJobStoreOptions {
  /** `rotationJobsFilePath(dataDir)`. */
  file: string;
  clock?: RotationClock;
  retention?: RotationRetention;
}

export class FileRotationJobStore implements RotationJobStore {
  readonly #file: string;
  readonly #clock: RotationClock;
  readonly #retention: Required<RotationRetention>;
  /** As on disk; replaced (never changed in place) by each change once it is written. */
  #jobs: readonly RotationJob[];
  readonly #writes = new SerialQueue();
  /** Claimed jobs: when each lease ends (ms since the epoch); removed when the job is updated. */
  readonly #leases = new Map<string, number>();

  private constructor(options: FileRotationJobStoreOptions, jobs: RotationJob[]) {
    this.#file = options.file;
    this.#clock = options.clock ?? systemRotationClock;
    this.#retention = { maxFinished: options.retention?.maxFinished ?? DEFAULT_MAX_FINISHED, maxAgeMs: options.retention?.maxAgeMs ?? DEFAULT_FINISHED_MAX_AGE_MS };
    this.#jobs = jobs;
  }

  /** Reads the jobs file (creating its directory), or refuses it with RotationJobsLoadError. */
  static async open(options: FileRotationJobStoreOptions): Promise<FileRotationJobStore> {
    await mkdir(dirname(options.file), { recursive: true, mode: 0o700 });
    // Opened by the daemon under the data directory's lock: temporary copies left by a kill are ours to remove.
    await removeLeftoverTempFiles(options.file);
    const content = await loadJobsFile(options.file);
    return new FileRotationJobStore(options, content?.jobs ?? []);
  }

  schedule(job: NewRotationJob): Promise<{ job: RotationJob; created: boolean }> {
    return this.#writes.run(async () => {
      const device = deviceKey(job);
      const pending = this.#jobs.find((j) => j.status === 'pending' && deviceKey(j) === device);
      if (!pending) {
        const created = newJob(randomUUID(), job);
        await this.#write([...this.#jobs, created]);
        return { job: structuredClone(created), created: true };
      }
      // Already durable as it is unless its due time moves.
      if (Date.parse(job.dueAt) >= Date.parse(pending.dueAt)) return { job: structuredClone(pending), created: false };
      const moved = changedJob(pending, { dueAt: job.dueAt });
      await this.#write(this.#jobs.map((j) => (j === pending ? moved : j)));
      return { job: structuredClone(moved), created: false };
    });
  }

  claimDue(now: number, limit: number, leaseMs: number): Promise<RotationJob[]> {
    // In turn with the changes: a job being updated keeps its lease until the update is written.
    return this.#writes.run(() => {
      // A lease that ended stays until the job is updated (as lease_until does in the table): nextDueAt counts it.
      const due = this.#jobs.filter((j) => j.status === 'pending' && Date.parse(j.dueAt) <= now && !((this.#leases.get(j.id) ?? -Infinity) > now)).sort(dueFirst).slice(0, Math.max(0, limit));
      for (const job of due) this.#leases.set(job.id, now + leaseMs);
      return structuredClone(due);
    });
  }

  update(id: string, change: RotationJobChange): Promise<RotationJob | undefined> {
    return this.#writes.run(async () => {
      const job = this.#jobs.find((j) => j.id === id);
      if (!job) return undefined;
      const changed = changedJob(job, change);
      await this.#write(this.#jobs.map((j) => (j === job ? changed : j)));
      this.#leases.delete(id);
      return structuredClone(changed);
    });
  }

  async get(id: string): Promise<RotationJob | undefined> {
    const job = this.#jobs.find((j) => j.id === id);
    return job && structuredClone(job);
  }

  async list(filter: RotationJobFilter = {}): Promise<RotationJob[]> {
    const name = filter.deviceName?.toLowerCase();
    const deviceId = filter.deviceId?.toLowerCase();
    const matching = this.#jobs.filter(
      (j) =>
        (filter.status === undefined || j.status === filter.status) &&
        (name === undefined || j.deviceName.toLowerCase() === name) &&
        (deviceId === undefined || j.deviceId === deviceId) &&
        (filter.tenantId === undefined || j.tenantId === filter.tenantId),
    );
    return structuredClone(matching.sort(newestFirst).slice(0, listLimit(filter.limit)));
  }

  async unreported(): Promise<RotationJob[]> {
    return structuredClone(this.#jobs.filter((j) => j.status === 'failed' && j.reportedAt === undefined).sort(finishedFirst));
  }

  async nextDueAt(): Promise<number | undefined> {
    let next: number | undefined;
    for (const job of this.#jobs) {
      if (job.status !== 'pending') continue;
      // A claimed job is not due again before its lease ends: the worker's timer need not wake for it.
      const due = Math.max(Date.parse(job.dueAt), this.#leases.get(job.id) ?? -Infinity);
      if (next === undefined || due < next) next = due;
    }
    return next;
  }

  /** Resolves once the changes asked for so far are written (or failed): for the daemon's close, before the lock goes. */
  idle(): Promise<void> {
    return this.#writes.idle();
  }

  /** Writes `jobs`, less what retention removes, durably, then makes them current. */
  async #write(jobs: readonly RotationJob[]): Promise<void> {
    const kept = this.#retained(jobs);
    await atomicWrite(this.#file, fileText(kept));
    this.#jobs = kept;
  }

  /** `jobs` without the removable finished jobs past the newest `maxFinished` or older than `maxAgeMs`. */
  #retained(jobs: readonly RotationJob[]): readonly RotationJob[] {
    const oldest = this.#clock.now() - this.#retention.maxAgeMs;
    const finished = jobs.filter((j) => j.status !== 'pending');
    const dropped = new Set(finished.filter((j) => removable(j) && finishedAt(j) < oldest));
    // Ranked only when there are more than may be kept (a change at a time adds at most one).
    if (finished.length > this.#retention.maxFinished) {
      const newestFirst = finished.sort(finishedFirst).reverse();
      for (const job of newestFirst.slice(this.#retention.maxFinished)) if (removable(job)) dropped.add(job);
    }
    return dropped.size === 0 ? jobs : jobs.filter((j) => !dropped.has(j));
  }
}
