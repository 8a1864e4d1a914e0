/**
 * The rotation jobs when the daemons share a PostgreSQL database (`--database`): the table
 * rotation_jobs (schema step 4, migrations.ts), with the same answers as file-jobs.ts for every
 * daemon on the database at once.
 *
 * - One pending job per device: a partial unique index on (tenant_id, device_id) WHERE pending, and
 *   `schedule` is one INSERT ... ON CONFLICT that moves the pending job's due time to the earlier, so
 *   two daemons scheduling the same device at once make one job.
 * - Each job is attempted by one daemon: `claimDue` takes due jobs with one UPDATE over a
 *   `SELECT ... FOR UPDATE SKIP LOCKED` (two daemons claiming at once take different jobs, neither
 *   waits) and sets `lease_until`, committed at once so that no transaction stays open while Intune
 *   is called. A daemon that dies mid-attempt leaves its lease to run out; any daemon claims the job then.
 * - Retention as in the file: finished jobs past the newest 1,000 or older than 30 days are removed
 *   (when a job finishes or a failure is reported, in that update's transaction), never a pending job
 *   or a failed one not yet reported; one daemon at a time prunes (an advisory lock; the others skip it).
 * - A query that fails for want of a connection is refused as unavailable (UnavailableError,
 *   `database-unreachable`), as the store's own are, and noted in the store's reachability.
 *
 * Times are the callers' (`now`, dueAt, the clock for retention), as in the file, not the database's.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { UnavailableError } from '../common/errors.js';
import { inTransaction, redactedError, withClient } from '../store/postgres/connections.js';
import { redactDatabaseUrl } from '../store/postgres/database-url.js';
import { DatabaseReachability } from '../store/postgres/reachability.js';
import { jsonbProblem } from '../store/postgres/state-tables.js';
import {
  DEFAULT_FINISHED_MAX_AGE_MS,
  DEFAULT_MAX_FINISHED,
  RotationJobCheckError,
  changedJob,
  dueFirst,
  listLimit,
  newJob,
  systemRotationClock,
  type RotationClock,
  type RotationRetention,
} from './job-checks.js';
import type { NewRotationJob, RotationJob, RotationJobChange, RotationJobFilter, RotationJobStore } from './rotation-jobs.js';

/** pg_try_advisory_xact_lock's key for pruning finished jobs (any fixed number no other part of amsd uses). */
export const ROTATION_PRUNE_LOCK_KEY = 4_262_019_016;

export interface PostgresRotationJobStoreOptions {
  /** The store's connections (`PostgresStore.pool`); the schema is migrated when the store opens. */
  pool: pg.Pool;
  /** The store's (`PostgresStore.reachability`); without one, the store keeps its own. */
  reachability?: DatabaseReachability;
  clock?: RotationClock;
  retention?: RotationRetention;
}

const SCHEDULE_SQL = `
  INSERT INTO rotation_jobs AS j (id, tenant_id, device_id, device_name_lower, status, due_at, created_at, job)
  VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7)
  ON CONFLICT (tenant_id, device_id) WHERE status = 'pending' DO UPDATE SET
    due_at = LEAST(j.due_at, EXCLUDED.due_at),
    job = CASE WHEN EXCLUDED.due_at < j.due_at THEN jsonb_set(j.job, '{dueAt}', EXCLUDED.job -> 'dueAt') ELSE j.job END
  RETURNING j.job, j.id = $1 AS created`;

// MATERIALIZED: the locking SELECT runs once, whatever plan the UPDATE gets.
const CLAIM_SQL = `
  WITH due AS MATERIALIZED (
    SELECT id FROM rotation_jobs
    WHERE status = 'pending' AND due_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
    ORDER BY due_at, created_at, id COLLATE "C"
    LIMIT $2
    FOR UPDATE SKIP LOCKED)
  UPDATE rotation_jobs SET lease_until = $1::timestamptz + $3 * interval '1 millisecond'
  FROM due WHERE rotation_jobs.id = due.id
  RETURNING rotation_jobs.job`;

/** Finished jobs ranked newest first (as file-jobs.ts ranks them); the removable past `$1` or before `$2` go. */
const PRUNE_SQL = `
  DELETE FROM rotation_jobs WHERE id IN (
    SELECT id FROM (
      SELECT id, status, reported_at, finished_at,
        row_number() OVER (ORDER BY finished_at DESC, created_at DESC, id COLLATE "C" DESC) AS rank
      FROM rotation_jobs WHERE status <> 'pending') finished
    WHERE (status = 'done' OR reported_at IS NOT NULL) AND (rank > $1 OR finished_at < $2))`;

const UPDATE_SQL = `
  UPDATE rotation_jobs SET status = $2, due_at = $3, finished_at = $4, reported_at = $5, lease_until = NULL, job = $6
  WHERE id = $1`;

interface JobRow {
  job: RotationJob;
}

export class PostgresRotationJobStore implements RotationJobStore {
  readonly #pool: pg.Pool;
  readonly #reachability: DatabaseReachability;
  readonly #clock: RotationClock;
  readonly #retention: Required<RotationRetention>;
  /** The pool's URL, whose password no error may carry. */
  readonly #url: string | undefined;

  constructor(options: PostgresRotationJobStoreOptions) {
    this.#pool = options.pool;
    this.#url = options.pool.options.connectionString;
    this.#reachability = options.reachability ?? new DatabaseReachability(this.#url ? redactDatabaseUrl(this.#url) : 'the database');
    this.#clock = options.clock ?? systemRotationClock;
    this.#retention = { maxFinished: options.retention?.maxFinished ?? DEFAULT_MAX_FINISHED, maxAgeMs: options.retention?.maxAgeMs ?? DEFAULT_FINISHED_MAX_AGE_MS };
  }

  async schedule(job: NewRotationJob): Promise<{ job: RotationJob; created: boolean }> {
    const fresh = storable(newJob(randomUUID(), job));
    const result = await this.#changing((client) =>
      client.query<JobRow & { created: boolean }>(SCHEDULE_SQL, [fresh.id, fresh.tenantId, fresh.deviceId, fresh.deviceName.toLowerCase(), fresh.dueAt, fresh.createdAt, JSON.stringify(fresh)]),
    );
    const row = result.rows[0]!;
    return { job: row.job, created: row.created };
  }

  async claimDue(now: number, limit: number, leaseMs: number): Promise<RotationJob[]> {
    if (limit <= 0) return [];
    const result = await this.#reading('the password rotations due', (client) => client.query<JobRow>(CLAIM_SQL, [new Date(now).toISOString(), Math.floor(limit), leaseMs]));
    // RETURNING keeps no order.
    return result.rows.map((r) => r.job).sort(dueFirst);
  }

  async update(id: string, change: RotationJobChange): Promise<RotationJob | undefined> {
    return this.#changing(
      (client) => this.#update(client, id, change),
      (work) => inTransaction(this.#pool, work),
    );
  }

  async #update(client: pg.PoolClient, id: string, change: RotationJobChange): Promise<RotationJob | undefined> {
    const found = await client.query<JobRow>('SELECT job FROM rotation_jobs WHERE id = $1 FOR UPDATE', [id]);
    const job = found.rows[0]?.job;
    if (!job) return undefined;
    const changed = storable(changedJob(job, change));
    const finished = changed.status === 'pending' ? null : (changed.completedAt ?? changed.dueAt);
    await client.query(UPDATE_SQL, [id, changed.status, changed.dueAt, finished, changed.reportedAt ?? null, JSON.stringify(changed)]);
    // What retention may remove grew: a job finished, or a failure was reported.
    if (changed.status !== job.status || changed.reportedAt !== job.reportedAt) await this.#prune(client);
    return changed;
  }

  /** Removes what retention allows, unless another daemon is at it (it removes the same). */
  async #prune(client: pg.PoolClient): Promise<void> {
    const locked = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [ROTATION_PRUNE_LOCK_KEY]);
    if (!locked.rows[0]?.locked) return;
    await client.query(PRUNE_SQL, [this.#retention.maxFinished, new Date(this.#clock.now() - this.#retention.maxAgeMs).toISOString()]);
  }

  async get(id: string): Promise<RotationJob | undefined> {
    const result = await this.#reading('the password rotation', (client) => client.query<JobRow>('SELECT job FROM rotation_jobs WHERE id = $1', [id]));
    return result.rows[0]?.job;
  }

  async list(filter: RotationJobFilter = {}): Promise<RotationJob[]> {
    const conditions: string[] = [];
    const params: unknown[] = [];
    const where = (column: string, value: string | undefined) => {
      if (value === undefined) return;
      params.push(value);
      conditions.push(`${column} = $${params.length}`);
    };
    where('status', filter.status);
    where('device_name_lower', filter.deviceName?.toLowerCase());
    where('device_id', filter.deviceId?.toLowerCase());
    where('tenant_id', filter.tenantId);
    params.push(listLimit(filter.limit));
    const sql = `SELECT job FROM rotation_jobs ${conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : ''} ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT $${params.length}`;
    const result = await this.#reading('the password rotations', (client) => client.query<JobRow>(sql, params));
    return result.rows.map((r) => r.job);
  }

  async unreported(): Promise<RotationJob[]> {
    const result = await this.#reading('the failed password rotations', (client) =>
      client.query<JobRow>(`SELECT job FROM rotation_jobs WHERE status = 'failed' AND reported_at IS NULL ORDER BY finished_at, created_at, id COLLATE "C"`),
    );
    return result.rows.map((r) => r.job);
  }

  async nextDueAt(): Promise<number | undefined> {
    // A claimed job is not due again before its lease ends (GREATEST ignores a NULL lease).
    const result = await this.#reading('the next password rotation', (client) =>
      client.query<{ next: Date | null }>(`SELECT min(GREATEST(due_at, lease_until)) AS next FROM rotation_jobs WHERE status = 'pending'`),
    );
    return result.rows[0]?.next?.getTime();
  }

  /** A change: refused with the change refusal when the database cannot be reached. */
  #changing<T>(work: (client: pg.PoolClient) => Promise<T>, on: (work: (client: pg.PoolClient) => Promise<T>) => Promise<T> = (w) => withClient(this.#pool, w)): Promise<T> {
    return this.#tracked(() => on(work), (cause) => this.#reachability.changeRefusal(cause));
  }

  /** A read (`what` it shows): refused with the request refusal when the database cannot be reached. */
  #reading<T>(what: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.#tracked(() => withClient(this.#pool, work), (cause) => this.#reachability.requestRefusal(what, cause));
  }

  async #tracked<T>(work: () => Promise<T>, refusal: (cause: unknown) => UnavailableError): Promise<T> {
    try {
      return await this.#reachability.track(work);
    } catch (error) {
      const redacted = this.#url ? redactedError(error, this.#url) : error;
      throw this.#reachability.noteFailure(redacted) ? refusal(redacted) : redacted;
    }
  }
}

/**
 * Jobs moved from a data directory's file (`amsd db import`), as they are, in the caller's transaction:
 * pending ones are then run by the daemons on the database, finished ones listed.
 */
export async function insertRotationJobs(client: pg.ClientBase, jobs: readonly RotationJob[]): Promise<void> {
  for (const job of jobs.map(storable)) {
    const finished = job.status === 'pending' ? null : (job.completedAt ?? job.dueAt);
    await client.query(
      `INSERT INTO rotation_jobs (id, tenant_id, device_id, device_name_lower, status, due_at, created_at, finished_at, reported_at, job)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [job.id, job.tenantId, job.deviceId, job.deviceName.toLowerCase(), job.status, job.dueAt, job.createdAt, finished, job.reportedAt ?? null, JSON.stringify(job)],
    );
  }
}

/** The job, when PostgreSQL can hold it (jsonb refuses what JSON allows: a NUL, a lone surrogate). */
function storable(job: RotationJob): RotationJob {
  const problem = jsonbProblem(job, '');
  if (problem) throw new RotationJobCheckError(problem);
  return job;
}
