/**
 * The rotation jobs in PostgreSQL: the contract (job-store-contract.ts), and what only the shared table
 * does: two daemons scheduling one device at once make one pending job, two claiming at once never get
 * the same job, a lease holds across daemons, and a database that cannot be reached is answered as
 * unavailable (503 database-unreachable), as the store's own queries are.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import t, { type Test } from 'tap';
import { UnavailableError } from '../../daemon/common/errors.js';
import { RotationJobCheckError } from '../../daemon/rotation/job-checks.js';
import { PostgresRotationJobStore } from '../../daemon/rotation/postgres-jobs.js';
import { migrate } from '../../daemon/store/postgres/migrations.js';
import { openPostgresStore } from '../../daemon/store/postgres/postgres-store.js';
import { needsPostgres, postgresClusterFor } from '../store/postgres/cluster.js';
import { MINUTE, T0, at, newJob, rotationJobStoreContract, type OpenOptions } from './job-store-contract.js';

const postgres = postgresClusterFor(t);

async function migratedDatabase(): Promise<string> {
  const url = await postgres.database();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await migrate(client, 'test');
  } finally {
    await client.end();
  }
  return url;
}

/** A daemon's store on its own pool, closed at the end of the test. */
function storeOn(t: Test, url: string, options: OpenOptions = {}): PostgresRotationJobStore {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  t.teardown(() => pool.end());
  return new PostgresRotationJobStore({ pool, ...options });
}

rotationJobStoreContract(
  t,
  'the PostgreSQL table',
  async (t, options) => {
    const url = await migratedDatabase();
    return { store: storeOn(t, url, options), reopen: async () => storeOn(t, url, options) };
  },
  needsPostgres(t),
);

t.test('two daemons scheduling the same device at once make ONE pending job, due at the earlier time', needsPostgres(t), async (t) => {
  const url = await migratedDatabase();
  const [a, b] = [storeOn(t, url), storeOn(t, url)];
  for (let i = 0; i < 40; i++) {
    const device = `dev-${i}`;
    const [fromA, fromB] = await Promise.all([a.schedule(newJob(device, { dueAt: at(T0 + 5 * MINUTE) })), b.schedule(newJob(device, { dueAt: at(T0 + 2 * MINUTE) }))]);
    t.equal(Number(fromA.created) + Number(fromB.created), 1, `${device}: created once`);
    t.equal(fromA.job.id, fromB.job.id, `${device}: both answered with the one job`);
  }
  const pending = await a.list({ status: 'pending', limit: 1000 });
  t.equal(pending.length, 40, 'one pending job per device');
  t.same(new Set(pending.map((j) => j.dueAt)), new Set([at(T0 + 2 * MINUTE)]), 'each due at the earlier of the two times');
  const rows = await postgres.cluster().then((c) => c.query<{ n: number }>(url, "SELECT count(*)::int AS n FROM rotation_jobs WHERE status = 'pending' AND due_at = $1", [at(T0 + 2 * MINUTE)]));
  t.equal(rows.rows[0]?.n, 40, 'the due_at column moved with the job');
});

t.test('two daemons claiming at once never get the same job: each of 50 is claimed exactly once', needsPostgres(t), async (t) => {
  const url = await migratedDatabase();
  const [a, b] = [storeOn(t, url), storeOn(t, url)];
  const scheduled = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).schedule(newJob(`dev-${i}`, { dueAt: at(T0 + (i % 7) * 1000) }))));
  const now = T0 + MINUTE;
  const claims = { a: [] as string[], b: [] as string[] };
  const claimer = async (store: PostgresRotationJobStore, into: string[]) => {
    // Until a claim finds nothing: 50 jobs, 3 a claim, so at most 50 rounds between the two.
    for (let round = 0; round < 50; round++) {
      const claimed = await store.claimDue(now, 3, 10 * MINUTE);
      if (claimed.length === 0) return;
      into.push(...claimed.map((j) => j.id));
    }
  };
  await Promise.all([claimer(a, claims.a), claimer(b, claims.b)]);
  const all = [...claims.a, ...claims.b];
  t.equal(all.length, 50, `50 claims in all (a ${claims.a.length}, b ${claims.b.length})`);
  t.same(new Set(all), new Set(scheduled.map((s) => s.job.id)), 'each job once');
});

t.test('a lease holds for every daemon on the database; another takes the job once it ends', needsPostgres(t), async (t) => {
  const url = await migratedDatabase();
  const [a, b] = [storeOn(t, url), storeOn(t, url)];
  const { job } = await a.schedule(newJob('dev-1'));
  const now = T0 + 2 * MINUTE;
  t.same((await a.claimDue(now, 10, MINUTE)).map((j) => j.id), [job.id]);
  t.same(await b.claimDue(now + MINUTE - 1, 10, MINUTE), [], 'not while A holds it');
  t.equal(await b.nextDueAt(), now + MINUTE, 'B is told when it may be claimed');
  t.same((await b.claimDue(now + MINUTE, 10, MINUTE)).map((j) => j.id), [job.id], 'A died: B claims it after the lease');
});

t.test('the store\'s own pool and reachability: a database that cannot be reached is refused as unavailable (503 database-unreachable)', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const { store: database } = await openPostgresStore({ url, masterKey: randomBytes(32) });
  t.teardown(() => database.close());
  const jobs = new PostgresRotationJobStore({ pool: database.pool, reachability: database.reachability });
  const { job } = await jobs.schedule(newJob('dev-1'));
  t.same(await jobs.get(job.id), job, 'the store migrated the schema: the table is there');

  const port = (await postgres.cluster()).port;
  const unreachable = url.replace(`:${port}/`, ':1/').replace('postgres@', 'postgres:Sup3r-Secret-pw@');
  const pool = new pg.Pool({ connectionString: unreachable, connectionTimeoutMillis: 2000 });
  t.teardown(() => pool.end());
  const offline = new PostgresRotationJobStore({ pool });
  for (const [what, attempt, detail] of [
    ['schedule', () => offline.schedule(newJob('dev-1')), /so nothing was changed/],
    ['update', () => offline.update(job.id, { attempts: 1 }), /so nothing was changed/],
    ['list', () => offline.list(), /so the password rotations cannot be shown/],
    ['claimDue', () => offline.claimDue(T0, 1, 1000), /so the password rotations due cannot be shown/],
  ] as const) {
    const error = await (attempt as () => Promise<unknown>)().then(() => undefined, (e: unknown) => e);
    t.type(error, UnavailableError, what);
    t.match(error, { reason: 'database-unreachable', retryAfterSeconds: 5, message: detail }, what);
    t.notMatch(String((error as Error).message) + String(((error as Error).cause as Error | undefined)?.stack), 'Sup3r-Secret-pw', `${what}: no password`);
  }
});

t.test('what PostgreSQL cannot hold is refused before it is sent', needsPostgres(t), async (t) => {
  const url = await migratedDatabase();
  const store = storeOn(t, url);
  await t.rejects(store.schedule(newJob('dev-1', { reason: 'ticket\u0000 42' })), new RotationJobCheckError('/reason holds the NUL character (\\u0000), which PostgreSQL cannot store'));
  const { job } = await store.schedule(newJob('dev-1'));
  await t.rejects(store.update(job.id, { lastError: 'a lone \ud800' }), RotationJobCheckError);
  t.same(await store.get(job.id), job);
});
