/**
 * Rate limits on secret reads, per key (a user, a client IP), over sliding minute, hour and day windows.
 * Pure: the time is passed in.
 *
 * What counts: every read the limiter lets through, whatever happens next (a read the rules then refuse
 * still counts, so probing for access is limited too). A read the limiter itself refuses does not count:
 * a user told "retry after 40 s" who waits 40 s gets in, and a script retrying in a loop does not lock
 * itself out for the rest of the day. The limit is on reads attempted, which is what an admin sets it for.
 *
 * Memory: a key keeps the times of its counted reads in the last day — at most the day limit of them,
 * since no read past it is counted — and a key with none left is dropped.
 */

export interface RateLimits {
  perMinute: number;
  perHour: number;
  perDay: number;
}

/** Access Manager's defaults. */
export const DEFAULT_RATE_LIMITS: Readonly<RateLimits> = Object.freeze({ perMinute: 10, perHour: 50, perDay: 100 });

export type RateWindow = 'minute' | 'hour' | 'day';

export type RateDecision = { allowed: true } | { allowed: false; window: RateWindow; retryAfterSeconds: number };

export const WINDOWS: readonly { window: RateWindow; ms: number; limit: keyof RateLimits }[] = [
  { window: 'minute', ms: 60_000, limit: 'perMinute' },
  { window: 'hour', ms: 3_600_000, limit: 'perHour' },
  { window: 'day', ms: 86_400_000, limit: 'perDay' },
];
const DAY_MS = 86_400_000;
/** How often idle keys are swept: O(keys) once a minute at most, amortised over every take. */
const SWEEP_INTERVAL_MS = 60_000;

export class RateLimiter {
  #limits: RateLimits;
  /** Per key, the times (ms) of its counted reads within the last day, oldest first. */
  readonly #keys = new Map<string, number[]>();
  #nextSweep = -Infinity;

  constructor(limits: RateLimits = DEFAULT_RATE_LIMITS) {
    this.#limits = validLimits(limits);
  }

  get limits(): RateLimits {
    return { ...this.#limits };
  }

  /** Takes effect at once, for reads already counted too (they are judged against the new limits). */
  setLimits(limits: RateLimits): void {
    this.#limits = validLimits(limits);
    // Keep the bound: no key holds more than the (new) day limit of times. The newest are the ones that matter.
    for (const times of this.#keys.values()) if (times.length > limits.perDay) times.splice(0, times.length - limits.perDay);
  }

  /** Whether a read would be allowed now, without counting it. */
  check(key: string, now: number): RateDecision {
    const times = this.#keys.get(key);
    if (!times) return { allowed: true };
    prune(times, now);
    return judge(times, now, this.#limits);
  }

  /** Counts a read when it is allowed; a refused read is not counted. */
  take(key: string, now: number): RateDecision {
    const decision = this.check(key, now);
    if (decision.allowed) this.record(key, now);
    return decision;
  }

  /** Counts a read without asking (for a caller that has checked several limiters first). */
  record(key: string, now: number): void {
    this.#sweep(now);
    let times = this.#keys.get(key);
    if (!times) {
      times = [];
      this.#keys.set(key, times);
    }
    prune(times, now);
    // Kept in order even if the clock steps back: a read is never counted as older than the last one.
    times.push(Math.max(now, times.at(-1) ?? now));
    if (times.length > this.#limits.perDay) times.splice(0, times.length - this.#limits.perDay);
  }

  /** Keys currently tracked. */
  get size(): number {
    return this.#keys.size;
  }

  #sweep(now: number): void {
    if (now < this.#nextSweep) return;
    for (const [key, times] of this.#keys) {
      prune(times, now);
      if (times.length === 0) this.#keys.delete(key);
    }
    this.#nextSweep = now + SWEEP_INTERVAL_MS;
  }
}

export type RateLimitCode = 'UserRateLimitExceeded' | 'IpRateLimitExceeded';

export type ReadRateDecision = { allowed: true } | { allowed: false; code: RateLimitCode; window: RateWindow; retryAfterSeconds: number };

/**
 * What a secret read asks of its rate limits: this file's ReadRateLimiter (in memory, synchronous: the
 * embedded store's read path awaits nothing here), or SharedReadRateLimiter (shared-rate-limit.ts, in
 * PostgreSQL, shared by every daemon on the database, so asynchronous). Both count a read against both
 * keys or neither.
 */
export interface ReadLimits {
  setLimits(limits: { user?: RateLimits; ip?: RateLimits }): void;
  takeBoth(userKey: string, ipKey: string, now: number): ReadRateDecision | Promise<ReadRateDecision>;
}

/**
 * The two limits on a secret read, per user and per client IP, each with its own limits. A read is
 * counted against both or neither: one refused by the IP limit does not use the user's budget, and the
 * other way round.
 */
export class ReadRateLimiter implements ReadLimits {
  readonly users: RateLimiter;
  readonly ips: RateLimiter;

  constructor(limits: { user?: RateLimits; ip?: RateLimits } = {}) {
    this.users = new RateLimiter(limits.user ?? DEFAULT_RATE_LIMITS);
    this.ips = new RateLimiter(limits.ip ?? DEFAULT_RATE_LIMITS);
  }

  setLimits(limits: { user?: RateLimits; ip?: RateLimits }): void {
    // Both validated before either changes.
    const user = limits.user && validLimits(limits.user);
    const ip = limits.ip && validLimits(limits.ip);
    if (user) this.users.setLimits(user);
    if (ip) this.ips.setLimits(ip);
  }

  /**
   * Counts the read against both keys when both allow it. When both refuse, the one with the longer wait
   * is reported: retrying after the shorter one would be refused again.
   */
  takeBoth(userKey: string, ipKey: string, now: number): ReadRateDecision {
    const user = this.users.check(userKey, now);
    const ip = this.ips.check(ipKey, now);
    let refused: Extract<ReadRateDecision, { allowed: false }> | undefined;
    if (!user.allowed) refused = { allowed: false, code: 'UserRateLimitExceeded', window: user.window, retryAfterSeconds: user.retryAfterSeconds };
    if (!ip.allowed && (!refused || ip.retryAfterSeconds > refused.retryAfterSeconds)) {
      refused = { allowed: false, code: 'IpRateLimitExceeded', window: ip.window, retryAfterSeconds: ip.retryAfterSeconds };
    }
    if (refused) return refused;
    this.users.record(userKey, now);
    this.ips.record(ipKey, now);
    return { allowed: true };
  }
}

/** Drops the times that have left the day window (they are at the front). */
function prune(times: number[], now: number): void {
  let expired = 0;
  while (expired < times.length && times[expired]! <= now - DAY_MS) expired++;
  if (expired > 0) times.splice(0, expired);
}

/**
 * Refused when any window holds its limit. The wait is until enough of the oldest reads leave every
 * full window; when several are full, the longest wait (and its window) is reported.
 */
function judge(times: readonly number[], now: number, limits: RateLimits): RateDecision {
  let refused: { window: RateWindow; retryAfterSeconds: number } | undefined;
  for (const { window, ms, limit } of WINDOWS) {
    const max = limits[limit];
    const inWindow = times.length - firstAfter(times, now - ms);
    if (inWindow < max) continue;
    // Allowed again once the count in the window is max - 1: when the read at this position leaves it.
    const freedAt = times[times.length - max]! + ms;
    const retryAfterSeconds = Math.max(1, Math.ceil((freedAt - now) / 1000));
    if (!refused || retryAfterSeconds > refused.retryAfterSeconds) refused = { window, retryAfterSeconds };
  }
  return refused ? { allowed: false, ...refused } : { allowed: true };
}

/** Index of the first time strictly after `since` (times are sorted). */
function firstAfter(times: readonly number[], since: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid]! > since) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export function validLimits(limits: RateLimits): RateLimits {
  for (const { limit } of WINDOWS) {
    const value = limits[limit];
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`rate limit ${limit} must be a positive integer, got ${String(value)}`);
  }
  return { perMinute: limits.perMinute, perHour: limits.perHour, perDay: limits.perDay };
}
