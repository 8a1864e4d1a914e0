import t from 'tap';
import { DEFAULT_RATE_LIMITS, RateLimiter, ReadRateLimiter, type RateDecision } from '../../daemon/access/rate-limit.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const T0 = Date.parse('2025-06-01T00:00:00Z');

/** Takes `count` reads for the key at `now`, and says how many were allowed. */
function takeMany(limiter: RateLimiter, key: string, count: number, now: number): number {
  let allowed = 0;
  for (let i = 0; i < count; i++) if (limiter.take(key, now).allowed) allowed++;
  return allowed;
}

t.test('the minute window: 10 a minute by default, sliding', async (t) => {
  t.same(DEFAULT_RATE_LIMITS, { perMinute: 10, perHour: 50, perDay: 100 }, "Access Manager's defaults");
  const limiter = new RateLimiter();
  for (let i = 0; i < 10; i++) t.same(limiter.take('alice', T0 + i * SECOND), { allowed: true });
  t.same(limiter.take('alice', T0 + 10 * SECOND), { allowed: false, window: 'minute', retryAfterSeconds: 50 }, 'the 11th, 10 s after the first');
  t.same(limiter.take('alice', T0 + MINUTE - 1), { allowed: false, window: 'minute', retryAfterSeconds: 1 }, 'a wait is never rounded down to 0');
  t.same(limiter.take('alice', T0 + MINUTE), { allowed: true }, 'a minute after the first read, it has left the window');
  t.same(limiter.take('alice', T0 + MINUTE + 500), { allowed: false, window: 'minute', retryAfterSeconds: 1 }, 'the second read leaves at 61 s');
  t.same(limiter.take('bob', T0 + 10 * SECOND), { allowed: true }, 'keys are independent');
});

t.test('refused reads are not counted: waiting the advertised time is enough', async (t) => {
  const limiter = new RateLimiter();
  t.equal(takeMany(limiter, 'alice', 10, T0), 10);
  let refusal: RateDecision = { allowed: true };
  for (let s = 1; s < 60; s++) {
    refusal = limiter.take('alice', T0 + s * SECOND);
    if (refusal.allowed) return t.fail(`allowed at ${s} s`);
  }
  t.same(refusal, { allowed: false, window: 'minute', retryAfterSeconds: 1 });
  t.equal(takeMany(limiter, 'alice', 12, T0 + MINUTE), 10, 'a minute later the full budget is back, the 59 refused reads did not count');
});

t.test('a window counts only its own reads, not the older ones kept for the longer windows', async (t) => {
  const limiter = new RateLimiter({ perMinute: 2, perHour: 50, perDay: 100 });
  t.equal(takeMany(limiter, 'alice', 2, T0), 2);
  t.equal(takeMany(limiter, 'alice', 3, T0 + 2 * MINUTE), 2);
  t.same(limiter.take('alice', T0 + 2 * MINUTE + 30 * SECOND), { allowed: false, window: 'minute', retryAfterSeconds: 30 });
});

t.test('the hour window', async (t) => {
  const limiter = new RateLimiter();
  for (let m = 0; m < 5; m++) t.equal(takeMany(limiter, 'alice', 10, T0 + m * 2 * MINUTE), 10, `10 reads at minute ${m * 2}`);
  const refused = limiter.take('alice', T0 + 20 * MINUTE);
  t.same(refused, { allowed: false, window: 'hour', retryAfterSeconds: 40 * 60 }, 'the 51st in an hour: wait until the first leaves the hour');
  t.same(limiter.check('alice', T0 + HOUR - 1), { allowed: false, window: 'hour', retryAfterSeconds: 1 });
  t.equal(takeMany(limiter, 'alice', 20, T0 + HOUR), 10, 'an hour on, the first ten have left the hour (and the minute caps the rest)');
});

t.test('the day window, and the longest wait is the one reported', async (t) => {
  const limiter = new RateLimiter();
  for (let h = 0; h < 10; h++) t.equal(takeMany(limiter, 'alice', 10, T0 + h * HOUR), 10, `10 reads at hour ${h}`);
  t.same(limiter.check('alice', T0 + 10 * HOUR), { allowed: false, window: 'day', retryAfterSeconds: 14 * 3600 }, '100 in a day: until the oldest leaves the day');
  t.same(limiter.check('alice', T0 + 9 * HOUR + 1), { allowed: false, window: 'day', retryAfterSeconds: 15 * 3600 }, 'the minute is full too, but the day is the longer wait');
  t.same(limiter.take('alice', T0 + DAY - 1), { allowed: false, window: 'day', retryAfterSeconds: 1 });
  t.equal(takeMany(limiter, 'alice', 20, T0 + DAY), 10, 'after the advertised wait, the first ten have left the day');
  t.same(limiter.take('alice', T0 + DAY), { allowed: false, window: 'day', retryAfterSeconds: 3600 }, 'the next wait for the next oldest, not the minute');
});

t.test('limits can be changed at runtime, and are validated', async (t) => {
  const limiter = new RateLimiter();
  t.equal(takeMany(limiter, 'alice', 5, T0), 5);
  limiter.setLimits({ perMinute: 3, perHour: 50, perDay: 100 });
  t.same(limiter.limits, { perMinute: 3, perHour: 50, perDay: 100 });
  t.same(limiter.take('alice', T0 + SECOND), { allowed: false, window: 'minute', retryAfterSeconds: 59 }, 'reads already counted are judged by the new limits');
  limiter.setLimits({ perMinute: 20, perHour: 50, perDay: 100 });
  t.equal(takeMany(limiter, 'alice', 30, T0 + 2 * SECOND), 15, 'raised: 20 in the minute, 5 already used');

  for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => limiter.setLimits({ perMinute: 10, perHour: bad, perDay: 100 }), RangeError, `perHour ${bad} refused`);
  }
  t.same(limiter.limits, { perMinute: 20, perHour: 50, perDay: 100 }, 'a refused change leaves the limits as they were');
  t.throws(() => new RateLimiter({ perMinute: 0, perHour: 1, perDay: 1 }), RangeError);

  const both = new ReadRateLimiter();
  t.throws(() => both.setLimits({ user: { perMinute: 1, perHour: 1, perDay: 1 }, ip: { perMinute: 1, perHour: 1, perDay: 0 } }), RangeError);
  t.same(both.users.limits, DEFAULT_RATE_LIMITS, 'neither limiter changes when one of the two is invalid');
  both.setLimits({ ip: { perMinute: 1, perHour: 2, perDay: 3 } });
  t.same(both.ips.limits, { perMinute: 1, perHour: 2, perDay: 3 });
  t.same(both.users.limits, DEFAULT_RATE_LIMITS, 'the other is left alone');
});

t.test('a read refused by the IP limit does not use the user budget, and the other way round', async (t) => {
  const limits = new ReadRateLimiter({ user: { perMinute: 5, perHour: 50, perDay: 100 }, ip: { perMinute: 3, perHour: 50, perDay: 100 } });
  for (let i = 0; i < 3; i++) t.same(limits.takeBoth('alice', '10.0.0.1', T0), { allowed: true });
  t.same(limits.takeBoth('alice', '10.0.0.1', T0 + SECOND), {
    allowed: false,
    code: 'IpRateLimitExceeded',
    window: 'minute',
    retryAfterSeconds: 59,
  });
  for (let i = 0; i < 10; i++) limits.takeBoth('alice', '10.0.0.1', T0 + SECOND);
  t.same(limits.takeBoth('alice', '10.0.0.2', T0 + 2 * SECOND), { allowed: true }, 'from another address alice still has budget');
  t.same(limits.takeBoth('alice', '10.0.0.2', T0 + 2 * SECOND), { allowed: true }, '5 in all: the refused reads from 10.0.0.1 were not counted');
  t.same(limits.takeBoth('alice', '10.0.0.2', T0 + 2 * SECOND), {
    allowed: false,
    code: 'UserRateLimitExceeded',
    window: 'minute',
    retryAfterSeconds: 58,
  });
  for (let i = 0; i < 10; i++) limits.takeBoth('alice', '10.0.0.2', T0 + 3 * SECOND);
  t.same(limits.takeBoth('bob', '10.0.0.2', T0 + 3 * SECOND), { allowed: true }, "alice's refused reads did not use 10.0.0.2's budget");
  t.same(limits.takeBoth('bob', '10.0.0.2', T0 + 3 * SECOND), {
    allowed: false,
    code: 'IpRateLimitExceeded',
    window: 'minute',
    retryAfterSeconds: 59,
  });
});

t.test('when both refuse, the longer wait is reported (the user on a tie)', async (t) => {
  const limits = new ReadRateLimiter({ user: { perMinute: 1, perHour: 50, perDay: 100 }, ip: { perMinute: 1, perHour: 50, perDay: 100 } });
  limits.takeBoth('alice', 'ip', T0);
  t.same(limits.takeBoth('alice', 'ip', T0 + SECOND), { allowed: false, code: 'UserRateLimitExceeded', window: 'minute', retryAfterSeconds: 59 });
  limits.takeBoth('bob', 'ip2', T0 + 30 * SECOND);
  limits.ips.record('ip2', T0 + 10 * SECOND);
  limits.users.record('carol', T0 + 40 * SECOND);
  t.same(
    limits.takeBoth('carol', 'ip', T0 + 50 * SECOND),
    { allowed: false, code: 'UserRateLimitExceeded', window: 'minute', retryAfterSeconds: 50 },
    'carol waits 50 s, the address 10 s',
  );
  t.same(
    limits.takeBoth('alice', 'ip2', T0 + 50 * SECOND),
    { allowed: false, code: 'IpRateLimitExceeded', window: 'minute', retryAfterSeconds: 40 },
    'alice waits 10 s, the address 40 s',
  );
});

t.test('memory stays bounded: idle keys are dropped, no key holds more than a day of reads', async (t) => {
  const limiter = new RateLimiter();
  for (let i = 0; i < 1000; i++) limiter.take(`10.0.${i >> 8}.${i & 255}`, T0 + i);
  t.equal(limiter.size, 1000);
  limiter.take('late', T0 + 23 * HOUR);
  t.equal(limiter.size, 1001, 'a key is kept while its reads are within the day (the day limit needs them)');
  limiter.take('later', T0 + DAY + 2 * MINUTE);
  t.equal(limiter.size, 2, 'a day on, the keys with no read left in the window are dropped');
  t.same(limiter.check('10.0.0.0', T0 + DAY + 2 * MINUTE), { allowed: true });

  // A key read at its limit for days never keeps more than the day limit of times: after a day without
  // reads it is dropped, which it could not be if older times were kept.
  const busy = new RateLimiter({ perMinute: 1000, perHour: 1000, perDay: 5 });
  for (let d = 0; d < 3; d++) t.equal(takeMany(busy, 'k', 100, T0 + d * DAY), 5, `day ${d}: 5 allowed`);
  busy.setLimits({ perMinute: 1000, perHour: 1000, perDay: 2 });
  busy.setLimits({ perMinute: 1000, perHour: 1000, perDay: 5 });
  t.equal(takeMany(busy, 'k', 100, T0 + 2 * DAY + 1), 3, 'lowering the day limit trimmed the key to the newest 2 times');
  busy.take('other', T0 + 4 * DAY);
  t.equal(busy.size, 1, 'the idle key is gone');
});

t.test('a clock that steps back does not break the order of counted reads', async (t) => {
  const limiter = new RateLimiter({ perMinute: 2, perHour: 50, perDay: 100 });
  limiter.take('k', T0 + 10 * SECOND);
  limiter.take('k', T0);
  t.same(limiter.take('k', T0 + SECOND), { allowed: false, window: 'minute', retryAfterSeconds: 69 }, 'the stepped-back read counts as of the latest time');
  t.same(limiter.take('k', T0 + 70 * SECOND), { allowed: true });
});
