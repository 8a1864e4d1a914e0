/**
 * The notification queue when the daemons share a PostgreSQL database (`--database`): the same
 * promises as queue.ts's file queue (durable once `enqueue` resolves, retried with the same backoff and
 * jitter up to `maxAttempts`, never dropped silently, at least once with a stable `X-Ams-Delivery-Id`),
 * for all daemons at once.
 *
 * - Each delivery is made by one daemon: a worker CLAIMS due deliveries with one UPDATE over a
 *   `SELECT ... FOR UPDATE SKIP LOCKED` (two daemons claiming at once take different rows, neither
 *   waits), which sets `claimed_by` and `claimed_until` (the lease) and commits at once, so no
 *   transaction stays open while the channel is called. Its outcome is written only while the claim
 *   is still the worker's (`claimed_by` matches).
 * - A daemon that dies (or loses its database) mid-delivery leaves its claim to expire: after the
 *   lease (default 2 minutes, well past a delivery's 10 s timeouts) any daemon claims it again and
 *   makes it, with the same delivery id. A delivery whose outcome could not be written is made again
 *   the same way: at least once, as in the file queue.
 * - A delivery that finally fails moves to notification_failures in one transaction and is reported
 *   (`onFinalFailure`: the audit trail) by the daemon that failed it; one left unreported (that daemon
 *   died) is claimed, with a lease too, and reported by whichever daemon looks next (at start and
 *   every minute).
 * - Due deliveries are looked for after each enqueue and each outcome, when a backoff ends, and every
 *   `pollMs` (what other daemons queued and claims that expired).
 *
 * Times are the database's (`statement_timestamp()`): one clock for every daemon.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { DeepReadonly } from '../store/store.js';
import type { ChannelRecord } from '../store/records.js';
import { withClient, inTransaction } from '../store/postgres/connections.js';
import type { DatabaseReachability } from '../store/postgres/reachability.js';
import { deliver as deliverToChannel, type DeliveryResult } from './deliver.js';
import { DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_FAILED, attemptQueued, backoffWait, reportOnce, type DeliveryQueue, type FailedDelivery, type NotificationQueueOptions, type PendingDelivery } from './queue.js';
import type { NotificationEvent, VariableExtras } from './templates.js';

export const DEFAULT_LEASE_MS = 120_000;
const DEFAULT_POLL_MS = 2_000;
const REPORT_SWEEP_MS = 60_000;

export interface PostgresQueueOptions extends Omit<NotificationQueueOptions, 'file' | 'clock'> {
  pool: pg.Pool;
  /** The store's: a list asked for while the database cannot be reached is answered as unavailable (503). */
  reachability?: DatabaseReachability;
  /** How long a claim lasts before another daemon may take the delivery (default 2 minutes). */
  leaseMs?: number;
  /** How often the table is asked for due deliveries besides after each change (default 2 s). */
  pollMs?: number;
  /** Names this worker in `claimed_by` (default a random id). */
  workerId?: string;
}

interface DeliveryRow {
  id: string;
  channel_id: string;
  event: NotificationEvent;
  extra: VariableExtras | null;
  attempts: number;
  created_at: Date;
  next_attempt_at: Date;
  last_attempt_at: Date | null;
  last_error: string | null;
}

interface FailureRow {
  id: string;
  channel_id: string;
  channel_name: string | null;
  event: NotificationEvent;
  extra: VariableExtras | null;
  attempts: number;
  created_at: Date;
  failed_at: Date;
  last_error: string;
  reported_at: Date | null;
}

const CLAIM_SQL = `
  UPDATE notification_deliveries SET claimed_by = $1, claimed_until = statement_timestamp() + $2 * interval '1 millisecond'
  WHERE id IN (
    SELECT id FROM notification_deliveries
    WHERE next_attempt_at <= statement_timestamp() AND (claimed_until IS NULL OR claimed_until <= statement_timestamp())
    ORDER BY next_attempt_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED)
  RETURNING *`;

const CLAIM_UNREPORTED_SQL = `
  UPDATE notification_failures SET report_claimed_until = statement_timestamp() + $1 * interval '1 millisecond'
  WHERE id IN (
    SELECT id FROM notification_failures
    WHERE reported_at IS NULL AND (report_claimed_until IS NULL OR report_claimed_until <= statement_timestamp())
    ORDER BY failed_at
    FOR UPDATE SKIP LOCKED)
  RETURNING *`;

export class PostgresNotificationQueue implements DeliveryQueue {
  readonly #options: PostgresQueueOptions;
  readonly #workerId: string;
  #running = false;
  #pollTimer: NodeJS.Timeout | undefined;
  #reportTimer: NodeJS.Timeout | undefined;
  readonly #backoffTimers = new Set<NodeJS.Timeout>();
  /** A claim is under way; `#again` asks for another once it is done. */
  #claiming: Promise<void> | undefined;
  #again = false;
  /** The last claim failed (the database is down, say): said once, not every poll, until one works again. */
  #claimFailing = false;
  readonly #inFlight = new Map<string, Promise<void>>();
  readonly #reporting = new Map<string, Promise<void>>();

  constructor(options: PostgresQueueOptions) {
    this.#options = options;
    this.#workerId = options.workerId ?? randomUUID();
  }

  get #leaseMs(): number {
    return this.#options.leaseMs ?? DEFAULT_LEASE_MS;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#pollTimer = setInterval(() => this.#fill(), this.#options.pollMs ?? DEFAULT_POLL_MS);
    this.#pollTimer.unref();
    this.#reportTimer = setInterval(() => void this.#reportUnreported(), REPORT_SWEEP_MS);
    this.#reportTimer.unref();
    void this.#reportUnreported();
    this.#fill();
  }

  /** Stops claiming and waits for the deliveries in flight; what is left stays in the table, for any daemon. */
  async stop(): Promise<void> {
    this.#running = false;
    clearInterval(this.#pollTimer);
    clearInterval(this.#reportTimer);
    for (const timer of this.#backoffTimers) clearTimeout(timer);
    this.#backoffTimers.clear();
    await this.idle();
  }

  async idle(): Promise<void> {
    while (this.#claiming || this.#inFlight.size > 0 || this.#reporting.size > 0) {
      await Promise.allSettled([this.#claiming, ...this.#inFlight.values(), ...this.#reporting.values()]);
    }
  }

  /** Queues a delivery; resolves with its id once it is committed. */
  async enqueue(channelId: string, event: NotificationEvent, extra?: VariableExtras): Promise<string> {
    const id = randomUUID();
    const kept = extra && Object.keys(extra).length > 0 ? { ...extra } : null;
    await withClient(this.#options.pool, (client) =>
      client.query(
        `INSERT INTO notification_deliveries (id, channel_id, event, extra, created_at, next_attempt_at)
         VALUES ($1, $2, $3, $4, statement_timestamp(), statement_timestamp())`,
        [id, channelId, JSON.stringify(event), kept && JSON.stringify(kept)],
      ),
    );
    this.#fill();
    return id;
  }

  deliverNow(channel: DeepReadonly<ChannelRecord>, event: NotificationEvent, extra?: VariableExtras): Promise<DeliveryResult> {
    return (this.#options.deliver ?? deliverToChannel)(channel, event, { ...this.#options.deliverOptions, ...(extra ? { extra } : {}), deliveryId: randomUUID() });
  }

  /** Deliveries still to be made by any daemon, oldest first. */
  async pending(): Promise<PendingDelivery[]> {
    const result = await this.#list('the pending deliveries', () => withClient(this.#options.pool, (client) => client.query<DeliveryRow>('SELECT * FROM notification_deliveries ORDER BY created_at, id')));
    return result.rows.map(toPending);
  }

  /** Deliveries that finally failed, oldest first (the last `maxFailed`). */
  async failed(): Promise<FailedDelivery[]> {
    const result = await this.#list('the failed deliveries', () => withClient(this.#options.pool, (client) => client.query<FailureRow>('SELECT * FROM notification_failures ORDER BY failed_at, id')));
    return result.rows.map(toFailed);
  }

  async #list<T>(what: string, query: () => Promise<T>): Promise<T> {
    const reachability = this.#options.reachability;
    if (!reachability) return query();
    try {
      return await reachability.track(query);
    } catch (error) {
      throw reachability.noteFailure(error) ? reachability.requestRefusal(what, error) : error;
    }
  }

  /** Claims as many due deliveries as `concurrency` leaves room for; one claim at a time. */
  #fill(): void {
    if (!this.#running) return;
    if (this.#claiming) {
      this.#again = true;
      return;
    }
    const room = (this.#options.concurrency ?? 4) - this.#inFlight.size;
    if (room <= 0) return;
    this.#claiming = this.#claim(room)
      .then(
        () => {
          this.#claimFailing = false;
        },
        (error: unknown) => {
          if (this.#claimFailing) return;
          this.#claimFailing = true;
          this.#options.onError?.(error);
        },
      )
      .finally(() => {
        this.#claiming = undefined;
        if (this.#again) {
          this.#again = false;
          this.#fill();
        }
      });
  }

  async #claim(room: number): Promise<void> {
    const claimed = await withClient(this.#options.pool, (client) => client.query<DeliveryRow>(CLAIM_SQL, [this.#workerId, this.#leaseMs, room]));
    for (const row of claimed.rows) {
      const attempt = this.#attempt(row)
        .catch((error: unknown) => this.#options.onError?.(error))
        .finally(() => {
          this.#inFlight.delete(row.id);
          this.#fill();
        });
      this.#inFlight.set(row.id, attempt);
    }
  }

  async #attempt(row: DeliveryRow): Promise<void> {
    const delivery = toPending(row);
    const { channel, result } = await attemptQueued(this.#options, delivery);
    const attempts = delivery.attempts + 1;
    const pool = this.#options.pool;
    const mine = [delivery.id, this.#workerId];
    if (result.ok) {
      await withClient(pool, (client) => client.query('DELETE FROM notification_deliveries WHERE id = $1 AND claimed_by = $2', mine));
      return;
    }
    if (result.retryable && attempts < (this.#options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS)) {
      const wait = backoffWait(this.#options, attempts);
      await withClient(pool, (client) =>
        client.query(
          `UPDATE notification_deliveries SET attempts = $3, last_attempt_at = statement_timestamp(), last_error = $4,
             next_attempt_at = statement_timestamp() + $5 * interval '1 millisecond', claimed_by = NULL, claimed_until = NULL
           WHERE id = $1 AND claimed_by = $2`,
          [...mine, attempts, result.error, wait],
        ),
      );
      this.#wakeAfter(wait);
      return;
    }
    const failed = await inTransaction(pool, async (client) => {
      const removed = await client.query('DELETE FROM notification_deliveries WHERE id = $1 AND claimed_by = $2', mine);
      if (removed.rowCount === 0) return undefined; // the claim expired and another daemon took it over
      const inserted = await client.query<FailureRow>(
        `INSERT INTO notification_failures (id, channel_id, channel_name, event, extra, attempts, created_at, failed_at, last_error, report_claimed_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, statement_timestamp(), $8, statement_timestamp() + $9 * interval '1 millisecond')
         RETURNING *`,
        [delivery.id, delivery.channelId, channel?.name ?? null, JSON.stringify(delivery.event), delivery.extra ? JSON.stringify(delivery.extra) : null, attempts, delivery.createdAt, result.error, this.#leaseMs],
      );
      // The oldest go first; each was reported (on the audit trail) when it failed.
      await client.query('DELETE FROM notification_failures WHERE id IN (SELECT id FROM notification_failures ORDER BY failed_at DESC, id DESC OFFSET $1)', [
        this.#options.maxFailed ?? DEFAULT_MAX_FAILED,
      ]);
      return toFailed(inserted.rows[0]!);
    });
    if (failed) void this.#report(failed);
  }

  /** Looks for due deliveries again when a backoff ends (the poll would too, later). */
  #wakeAfter(ms: number): void {
    if (!this.#running) return;
    const timer = setTimeout(() => {
      this.#backoffTimers.delete(timer);
      this.#fill();
    }, ms + 5);
    timer.unref();
    this.#backoffTimers.add(timer);
  }

  /** Reports the failures no daemon reported (the one that failed them died first). */
  async #reportUnreported(): Promise<void> {
    if (!this.#running || !this.#options.onFinalFailure) return;
    try {
      const claimed = await withClient(this.#options.pool, (client) => client.query<FailureRow>(CLAIM_UNREPORTED_SQL, [this.#leaseMs]));
      for (const row of claimed.rows) void this.#report(toFailed(row));
    } catch (error) {
      this.#options.onError?.(error);
    }
  }

  #report(failed: FailedDelivery): Promise<void> {
    const onFinalFailure = this.#options.onFinalFailure;
    if (!onFinalFailure) return Promise.resolve();
    return reportOnce(this.#reporting, failed, onFinalFailure, this.#options.onError, () =>
      withClient(this.#options.pool, (client) => client.query('UPDATE notification_failures SET reported_at = statement_timestamp() WHERE id = $1', [failed.id])),
    );
  }
}

function toPending(row: DeliveryRow): PendingDelivery {
  return {
    id: row.id,
    channelId: row.channel_id,
    event: row.event,
    ...(row.extra ? { extra: row.extra } : {}),
    attempts: row.attempts,
    createdAt: row.created_at.toISOString(),
    nextAttemptAt: row.next_attempt_at.toISOString(),
    ...(row.last_attempt_at ? { lastAttemptAt: row.last_attempt_at.toISOString() } : {}),
    ...(row.last_error !== null ? { lastError: row.last_error } : {}),
  };
}

function toFailed(row: FailureRow): FailedDelivery {
  return {
    id: row.id,
    channelId: row.channel_id,
    ...(row.channel_name !== null ? { channelName: row.channel_name } : {}),
    event: row.event,
    ...(row.extra ? { extra: row.extra } : {}),
    attempts: row.attempts,
    createdAt: row.created_at.toISOString(),
    failedAt: row.failed_at.toISOString(),
    lastError: row.last_error,
    ...(row.reported_at ? { reportedAt: row.reported_at.toISOString() } : {}),
  };
}
