/**
 * The rate limits shared in PostgreSQL: 10 reads a minute are 10 across every limiter (every daemon)
 * on the database; the 11th is refused with its wait, and refused reads are not counted; a read the
 * address limit refuses does not use the user's budget; old windows are pruned; and through two real
 * daemons, a limit changed in the settings through one applies on both.
 */
import pg from 'pg';
import t, { type Test } from 'tap';
import { SharedReadRateLimiter } from '../../daemon/access/shared-rate-limit.js';
import type { RateLimits } from '../../daemon/access/rate-limit.js';
import { migrate } from '../../daemon/store/postgres/migrations.js';
import { DatabaseReachability } from '../../daemon/store/postgres/reachability.js';
import { assertMatchesSpec } from '../helpers.js';
import { needsPostgres, postgresClusterFor } from '../store/postgres/cluster.js';
import { LAPS, sharedDaemons } from '../store/postgres/shared-daemons.js';

const postgres = postgresClusterFor(t);
const limits = (perMinute: number): RateLimits => ({ perMinute, perHour: 1000, perDay: 1000 });

async function limiters(t: Test, count: number, user = limits(10), ip = limits(1000)) {
  const url = await postgres.database();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await migrate(client, 'test');
  await client.end();
  const made = Array.from({ length: count }, () => {
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    const limiter = new SharedReadRateLimiter({ pool, reachability: new DatabaseReachability('test'), limits: { user, ip } });
    t.teardown(async () => {
      limiter.close();
      await pool.end();
    });
    return limiter;
  });
  const cluster = await postgres.cluster();
  await wellInsideAMinute(url);
  return { url, limiters: made, cluster };
}

/** The windows are the database's calendar minutes: a test that counts within one starts well inside it (or waits for the next). */
async function wellInsideAMinute(url: string): Promise<void> {
  const cluster = await postgres.cluster();
  const left = Number((await cluster.query<{ s: number }>(url, 'SELECT (60 - extract(second FROM clock_timestamp()))::float8 AS s')).rows[0]!.s);
  if (left < 20) await new Promise((resolve) => setTimeout(resolve, left * 1000 + 100));
}

t.test('10 reads a minute are 10 across two limiters; the 11th is refused with its wait, and refusals do not count', needsPostgres(t), async (t) => {
  const { limiters: [a, b], cluster, url } = await limiters(t, 2);
  for (let i = 0; i < 10; i++) {
    t.same(await (i % 2 ? a! : b!).takeBoth('user:alice', `192.0.2.${i}`), { allowed: true }, `read ${i + 1} through ${i % 2 ? 'A' : 'B'}`);
  }
  const refused = await a!.takeBoth('user:alice', '192.0.2.99');
  t.match(refused, { allowed: false, code: 'UserRateLimitExceeded', window: 'minute' }, 'the 11th is refused, through either');
  t.ok(!refused.allowed && refused.retryAfterSeconds >= 1 && refused.retryAfterSeconds <= 60, 'with a wait until the minute is over');
  for (let i = 0; i < 3; i++) t.match(await b!.takeBoth('user:alice', '192.0.2.98'), { allowed: false });
  const counted = async (key: string, scope = 'user') =>
    (await cluster.query<{ count: number }>(url, "SELECT count FROM rate_counts WHERE scope = $1 AND key = $2 AND window_name = 'minute'", [scope, key])).rows[0]?.count;
  t.equal(await counted('user:alice'), 10, 'the refused reads were not counted');
  t.equal(await counted('192.0.2.99', 'ip'), undefined, 'not against the address either');

  // Raised to 12 on both (as a settings change does): exactly 2 more pass, since the refusals left nothing.
  a!.setLimits({ user: limits(12) });
  b!.setLimits({ user: limits(12) });
  t.same(await a!.takeBoth('user:alice', '192.0.2.1'), { allowed: true });
  t.same(await b!.takeBoth('user:alice', '192.0.2.1'), { allowed: true });
  t.match(await a!.takeBoth('user:alice', '192.0.2.1'), { allowed: false, code: 'UserRateLimitExceeded' });
  // Lowered to 5: in force at once for the reads already counted.
  b!.setLimits({ user: limits(5) });
  t.match(await b!.takeBoth('user:alice', '192.0.2.1'), { allowed: false });
  t.same(await b!.takeBoth('user:bob', '192.0.2.1'), { allowed: true }, 'another user has a budget of his own');
});

t.test('a read the address limit refuses does not use the user\'s budget; old windows are pruned', needsPostgres(t), async (t) => {
  const { limiters: [a, b], cluster, url } = await limiters(t, 2, limits(10), limits(2));
  t.same(await a!.takeBoth('user:carol', '198.51.100.7'), { allowed: true });
  t.same(await b!.takeBoth('user:dave', '198.51.100.7'), { allowed: true });
  t.match(await a!.takeBoth('user:erin', '198.51.100.7'), { allowed: false, code: 'IpRateLimitExceeded', window: 'minute' });
  const users = await cluster.query<{ key: string }>(url, "SELECT key FROM rate_counts WHERE scope = 'user' AND window_name = 'minute' ORDER BY key");
  t.same(users.rows.map((r) => r.key), ['user:carol', 'user:dave'], 'erin\'s refused read left no count');

  await cluster.query(url, "INSERT INTO rate_counts VALUES ('user', 'user:old', 'day', statement_timestamp() - interval '3 days', 5)");
  t.equal(await a!.prune(), 1, 'the window that began days ago is removed');
  t.equal((await cluster.query(url, "SELECT 1 FROM rate_counts WHERE key = 'user:old'")).rowCount, 0);
  t.equal(await b!.prune(), 0, 'the current ones are kept');
});

t.test('two daemons: the user limit holds across both, the 429 says when to retry, and a settings change applies on both', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const shared = await sharedDaemons(t, url, 2);
  const { daemons: [a, b], helpdesk, computerName } = shared;
  const inStep = () => shared.inStep();
  const patched = await a!.call({ method: 'PATCH', url: '/v1/service-config', body: { userRateLimitPerMinute: 3 } });
  t.equal(patched.statusCode, 200, patched.body);
  await inStep();
  await wellInsideAMinute(url);
  // The API keys' version, not the whole revision: the shared audit trail's checkpoint (the auditTrail
  // document, every few seconds whatever the reads) is a change of the state of its own.
  const revision = async () => Number((await (await postgres.cluster()).query<{ version: string }>(url, "SELECT version FROM collection_versions WHERE collection = 'apiKeys'")).rows[0]!.version);
  const stateBefore = await revision();
  const read = (daemon: typeof a) => daemon!.call({ method: 'POST', url: LAPS, key: helpdesk, body: { computerName } });
  const answers = [await read(a), await read(b), await read(a)];
  t.same(answers.map((r) => r.statusCode), [200, 200, 200], '3 through both');
  const refused = await read(b);
  t.equal(refused.statusCode, 429, 'the 4th is refused, by the other daemon');
  t.ok(Number(refused.headers['retry-after']) >= 1, 'with Retry-After');
  t.match(refused.json(), { code: 'UserRateLimitExceeded' });
  assertMatchesSpec(t, refused, 'getLocalAdminPassword');
  t.equal(await revision(), stateBefore, 'no read wrote the API keys: the key\'s lastUsedAt is noted in memory and written later, coalesced');

  const raised = await b!.call({ method: 'PATCH', url: '/v1/service-config', body: { userRateLimitPerMinute: 4 } });
  t.equal(raised.statusCode, 200, raised.body);
  await inStep();
  t.equal((await read(a)).statusCode, 200, 'raised through B: A lets one more through');
  t.equal((await read(b)).statusCode, 429, 'and B refuses the next');
});
