/**
 * The rate limits on secret reads when the daemons share a PostgreSQL database (`--database`): one
 * count per key and window for all of them, so 10 reads a minute are 10 across every daemon.
 *
 * What counts is what rate-limit.ts counts: every read let through, and never one refused. A read is
 * counted and checked in ONE transaction: its six counters (the user's and the address's minute, hour
 * and day) are incremented with INSERT ... ON CONFLICT DO UPDATE ... RETURNING, which also takes their
 * rows' locks, so two daemons counting the same key at once are serialised on them; if any counter
 * then exceeds its limit the transaction is rolled back, so a refused read leaves no count behind.
 * The rows are locked user first, then address, so two reads never wait on each other in a cycle.
 *
 * FIXED windows, where the embedded limiter (rate-limit.ts) slides them. The window is the calendar
 * minute, hour or UTC day of the DATABASE's clock (one clock for all daemons), and:
 * - a window's count starts again from nothing at its boundary, so around one up to twice the limit
 *   can pass (10 at 12:00:59 and 10 more at 12:01:00), where a sliding window lets 10 in any 60 s;
 * - Retry-After is the time left to the end of the full window, where the sliding window's is the time
 *   until its oldest counted read leaves it (so it can be longer: up to the whole window);
 * - a lowered limit applies at once to the reads counted in the current window, as in the embedded
 *   limiter, but a raised one does not give back what the sliding window would have forgotten.
 * Counters of windows that began over a day ago (all of them over) are pruned, every 10 minutes, by each daemon.
 *
 * Fail closed: while the database cannot be reached (reachability.ts) a read is refused with
 * UnavailableError (503), as it is when the counting query fails for want of a connection.
 */
import type pg from 'pg';
import { withClient, rollback } from '../store/postgres/connections.js';
import type { DatabaseReachability } from '../store/postgres/reachability.js';
import { DEFAULT_RATE_LIMITS, WINDOWS, validLimits, type RateLimits, type ReadLimits, type ReadRateDecision, type RateWindow } from './rate-limit.js';

const WINDOW_SECONDS: Record<RateWindow, number> = { minute: 60, hour: 3600, day: 86_400 };
const PRUNE_EVERY_MS = 600_000;

const COUNT_SQL = `
  INSERT INTO rate_counts AS r (scope, key, window_name, window_start, count)
  SELECT w.scope, w.key, w.window_name, to_timestamp(floor(extract(epoch FROM statement_timestamp()) / w.seconds) * w.seconds), 1
  FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[]) WITH ORDINALITY AS w(scope, key, window_name, seconds, n)
  ORDER BY w.n
  ON CONFLICT (scope, key, window_name, window_start) DO UPDATE SET count = r.count + 1
  RETURNING r.scope, r.window_name, r.count,
    ceil(extract(epoch FROM r.window_start + make_interval(secs => CASE r.window_name WHEN 'minute' THEN 60 WHEN 'hour' THEN 3600 ELSE 86400 END) - statement_timestamp()))::integer AS seconds_left`;

interface CountRow {
  scope: 'user' | 'ip';
  window_name: RateWindow;
  count: number;
  seconds_left: number;
}

export interface SharedReadRateLimiterOptions {
  pool: pg.Pool;
  reachability: DatabaseReachability;
  limits?: { user?: RateLimits; ip?: RateLimits };
  /** Pruning failed (logged by the owner; tried again next time). */
  onError?: (error: unknown) => void;
}

export class SharedReadRateLimiter implements ReadLimits {
  #limits: { user: RateLimits; ip: RateLimits };
  readonly #pruneTimer: NodeJS.Timeout;

  constructor(private readonly options: SharedReadRateLimiterOptions) {
    this.#limits = { user: validLimits(options.limits?.user ?? DEFAULT_RATE_LIMITS), ip: validLimits(options.limits?.ip ?? DEFAULT_RATE_LIMITS) };
    this.#pruneTimer = setInterval(() => void this.prune(), PRUNE_EVERY_MS);
    this.#pruneTimer.unref();
  }

  get limits(): { user: RateLimits; ip: RateLimits } {
    return { user: { ...this.#limits.user }, ip: { ...this.#limits.ip } };
  }

  /** Every daemon is told of a settings change (the shared state), so each judges by the new limits at once. */
  setLimits(limits: { user?: RateLimits; ip?: RateLimits }): void {
    const user = limits.user ? validLimits(limits.user) : this.#limits.user;
    const ip = limits.ip ? validLimits(limits.ip) : this.#limits.ip;
    this.#limits = { user, ip };
  }

  /** `now` is not used: the windows are the database's, one clock for every daemon. */
  async takeBoth(userKey: string, ipKey: string, _now?: number): Promise<ReadRateDecision> {
    const { reachability } = this.options;
    if (!reachability.reachable) throw reachability.readRefusal();
    const limits = this.#limits;
    const scopes = ['user', 'ip'] as const;
    const rows = scopes.flatMap((scope) => WINDOWS.map(({ window }) => ({ scope, key: scope === 'user' ? userKey : ipKey, window })));
    try {
      return await reachability.track(() =>
        withClient(this.options.pool, async (client) => {
          await client.query('BEGIN');
          try {
            const counted = await client.query<CountRow>(COUNT_SQL, [rows.map((r) => r.scope), rows.map((r) => r.key), rows.map((r) => r.window), rows.map((r) => WINDOW_SECONDS[r.window])]);
            const decision = judge(counted.rows, limits);
            await client.query(decision.allowed ? 'COMMIT' : 'ROLLBACK');
            return decision;
          } catch (error) {
            await rollback(client);
            throw error;
          }
        }),
      );
    } catch (error) {
      if (reachability.noteFailure(error)) throw reachability.readRefusal(error);
      throw error;
    }
  }

  /** Removes the counters of windows that began over a day ago: every window is at most a day long, so they are over. */
  async prune(): Promise<number> {
    try {
      const removed = await withClient(this.options.pool, (client) => client.query("DELETE FROM rate_counts WHERE window_start < statement_timestamp() - interval '1 day'"));
      return removed.rowCount ?? 0;
    } catch (error) {
      this.options.onError?.(error);
      return 0;
    }
  }

  close(): void {
    clearInterval(this.#pruneTimer);
  }
}

/** Refused when a counter went past its limit; the longest wait is reported (the user's when equal, as rate-limit.ts does). */
function judge(rows: readonly CountRow[], limits: { user: RateLimits; ip: RateLimits }): ReadRateDecision {
  let refused: Extract<ReadRateDecision, { allowed: false }> | undefined;
  for (const row of rows) {
    const limit = limits[row.scope][WINDOWS.find((w) => w.window === row.window_name)!.limit];
    if (row.count <= limit) continue;
    const retryAfterSeconds = Math.max(1, row.seconds_left);
    if (refused && retryAfterSeconds <= refused.retryAfterSeconds) continue;
    refused = { allowed: false, code: row.scope === 'user' ? 'UserRateLimitExceeded' : 'IpRateLimitExceeded', window: row.window_name, retryAfterSeconds };
  }
  return refused ?? { allowed: true };
}
