/**
 * The notification queue in PostgreSQL, shared by workers on one database: N deliveries queued are
 * made exactly once each by two workers claiming at once; a worker that dies mid-delivery (its
 * connections terminated) leaves the delivery to the other once its lease ends; retries wait the
 * backoff steps; a final failure is kept and reported once.
 */
import pg from 'pg';
import t, { type Test } from 'tap';
import { deliver as deliverToChannel } from '../../daemon/notifications/deliver.js';
import { PostgresNotificationQueue, type PostgresQueueOptions } from '../../daemon/notifications/postgres-queue.js';
import type { FailedDelivery } from '../../daemon/notifications/queue.js';
import { migrate } from '../../daemon/store/postgres/migrations.js';
import type { ChannelRecord } from '../../daemon/store/records.js';
import { needsPostgres, postgresClusterFor } from '../store/postgres/cluster.js';
import { LAPS, sharedDaemons, until as untilTrue } from '../store/postgres/shared-daemons.js';
import { assertMatchesSpec } from '../helpers.js';
import { channel, event, sealer, startReceiver } from './fixtures.js';

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

function webhookTo(url: string): ChannelRecord {
  return channel({ name: 'hook', kind: 'webhook', url, bodyTemplate: '{"code": "{{Code}}"}' });
}

interface Worker {
  queue: PostgresNotificationQueue;
  pool: pg.Pool;
  errors: unknown[];
  reported: FailedDelivery[];
}

/** A worker on its own pool (named, so that a test can terminate its connections), stopped at the end. */
function worker(t: Test, url: string, name: string, hook: ChannelRecord, options: Partial<PostgresQueueOptions> = {}, stopAtEnd = true): Worker {
  const pool = new pg.Pool({ connectionString: url, application_name: name, max: 4 });
  const errors: unknown[] = [];
  pool.on('error', (error) => errors.push(error));
  const reported: FailedDelivery[] = [];
  const queue = new PostgresNotificationQueue({
    pool,
    channel: (id) => (id === hook.id ? hook : undefined),
    deliverOptions: { sealer, timeoutMs: 2000 },
    random: () => 0.5,
    pollMs: 50,
    workerId: name,
    onFinalFailure: (delivery) => void reported.push(delivery),
    onError: (error) => errors.push(error),
    ...options,
  });
  t.teardown(async () => {
    if (stopAtEnd) await queue.stop();
    await pool.end();
  });
  return { queue, pool, errors, reported };
}

/** Polls `condition` until it holds, within `boundMs` (the bound is the requirement, not a measurement). */
async function until(condition: () => Promise<boolean>, what: string, boundMs = 10_000): Promise<void> {
  const end = Date.now() + boundMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`not within ${boundMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test('two workers on one database make each of N queued deliveries exactly once', needsPostgres(t), async (t) => {
  const url = await migratedDatabase();
  const receiver = await startReceiver(t, () => 204);
  const hook = webhookTo(`${receiver.url}/hook`);
  const made = { a: 0, b: 0 };
  const counting = (name: 'a' | 'b'): typeof deliverToChannel => (c, e, o) => {
    made[name]++;
    return deliverToChannel(c, e, o);
  };
  const a = worker(t, url, 'worker-a', hook, { deliver: counting('a'), concurrency: 3 });
  const b = worker(t, url, 'worker-b', hook, { deliver: counting('b'), concurrency: 3 });
  const N = 60;
  // Queued through both before either works, so that both claim from the same rows at once.
  const ids = await Promise.all(Array.from({ length: N }, (_, i) => (i % 2 ? a : b).queue.enqueue(hook.id, event({ requestId: `req-${i}` }))));
  t.same((await a.queue.pending()).length, N, 'each worker sees every queued delivery');
  a.queue.start();
  b.queue.start();
  await receiver.untilRequests(N);
  await until(async () => (await a.queue.pending()).length === 0, 'the queue is empty');
  await Promise.all([a.queue.idle(), b.queue.idle()]);
  const arrived = receiver.requests.map((r) => String(r.headers['x-ams-delivery-id']));
  t.equal(arrived.length, N, `${N} requests arrived, no more`);
  t.same(new Set(arrived), new Set(ids), 'one for each queued delivery');
  t.equal(made.a + made.b, N, `each made by one worker only (a made ${made.a}, b ${made.b})`);
  t.same([...a.errors, ...b.errors], []);
});

t.test('a worker killed mid-delivery: the other makes it once the lease is over', needsPostgres(t), async (t) => {
  const url = await migratedDatabase();
  const receiver = await startReceiver(t, () => 204);
  const hook = webhookTo(`${receiver.url}/hook`);
  const leaseMs = 1500;
  // A claims, then hangs in the delivery until the test lets it go (it never reaches the receiver).
  let claimedByA: () => void = () => undefined;
  const aClaimed = new Promise<void>((resolve) => (claimedByA = resolve));
  let releaseA: () => void = () => undefined;
  const a = worker(t, url, 'worker-a', hook, {
    leaseMs,
    concurrency: 1,
    deliver: () => {
      claimedByA();
      return new Promise((resolve) => (releaseA = () => resolve({ ok: true })));
    },
  });
  const id = await a.queue.enqueue(hook.id, event());
  a.queue.start();
  await aClaimed;
  const [claim] = (await postgres.cluster().then((c) => c.query<{ claimed_by: string; claimed_until: Date }>(url, 'SELECT claimed_by, claimed_until FROM notification_deliveries WHERE id = $1', [id]))).rows;
  t.equal(claim?.claimed_by, 'worker-a', 'claimed by A, with a lease');
  // A dies: its connections are cut (and, its one slot hung, it claims nothing more).
  const cluster = await postgres.cluster();
  const cut = await cluster.query(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'worker-a'");
  t.ok((cut.rowCount ?? 0) >= 1, 'A\'s connections are terminated');

  const b = worker(t, url, 'worker-b', hook, { leaseMs });
  b.queue.start();
  const [request] = await receiver.untilRequests(1);
  const deliveredAt = Date.now();
  t.equal(request?.headers['x-ams-delivery-id'], id, 'B made the delivery A had claimed, with its id');
  t.ok(deliveredAt >= claim!.claimed_until.getTime() - 50, 'and only once A\'s lease was over');
  await until(async () => (await b.queue.pending()).length === 0, 'B removed it');

  // A comes back to life late: its outcome is not written over B's (the claim is no longer its).
  releaseA();
  await a.queue.stop();
  t.equal(receiver.requests.length, 1, 'made once');
  t.same(await b.queue.pending(), []);
  t.same(b.errors, []);
});

t.test('a failing endpoint is retried after each backoff step, then a final failure is kept and reported once', needsPostgres(t), async (t) => {
  const url = await migratedDatabase();
  let failures = 2;
  const receiver = await startReceiver(t, () => (failures-- > 0 ? 503 : 204));
  const hook = webhookTo(`${receiver.url}/hook`);
  const w = worker(t, url, 'worker', hook, { backoffMs: [300, 600] });
  const cluster = await postgres.cluster();
  const row = async () =>
    (await cluster.query<{ attempts: number; wait_ms: number; last_error: string }>(
      url,
      'SELECT attempts, (extract(epoch FROM next_attempt_at - last_attempt_at) * 1000)::float8 AS wait_ms, last_error FROM notification_deliveries',
    )).rows[0];
  const id = await w.queue.enqueue(hook.id, event());
  w.queue.start();
  await receiver.untilRequests(1);
  await until(async () => (await row())?.attempts === 1, 'the first failure is written');
  t.match(await row(), { attempts: 1, wait_ms: 300, last_error: /503/ }, 'the first wait is the first step');
  t.match(await w.queue.pending(), [{ id, attempts: 1, lastError: /503/ }]);
  await receiver.untilRequests(2);
  await until(async () => (await row())?.attempts === 2, 'the second failure is written');
  t.match(await row(), { attempts: 2, wait_ms: 600 }, 'the second wait is the second step');
  await receiver.untilRequests(3);
  await until(async () => (await w.queue.pending()).length === 0, 'delivered');
  t.same(new Set(receiver.requests.map((r) => r.headers['x-ams-delivery-id'])), new Set([id]), 'every attempt carries the same delivery id');

  // Always failing, two attempts at most: kept in the failed list and reported once.
  receiver.respond = () => 500;
  const failing = await w.queue.enqueue(hook.id, event(), { ruleDescription: 'Helpdesk' });
  await w.queue.stop();
  const short = worker(t, url, 'worker-2', hook, { backoffMs: [50], maxAttempts: 2 });
  short.queue.start();
  await until(async () => short.reported.length === 1, 'the final failure is reported');
  await short.queue.idle();
  t.match(short.reported, [{ id: failing, attempts: 2, lastError: /500/, extra: { ruleDescription: 'Helpdesk' } }]);
  t.match(await short.queue.failed(), [{ id: failing, attempts: 2, reportedAt: String }], 'kept, marked reported');
  t.same(await short.queue.pending(), []);
  // Another worker starting later does not report it again.
  const later = worker(t, url, 'worker-3', hook);
  later.queue.start();
  await later.queue.idle();
  t.same(later.reported, [], 'reported once');
});

t.test('two daemons: reads through both are notified once each through the shared queue, listed the same by both', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const shared = await sharedDaemons(t, url, 2, { notificationPollMs: 50 });
  const [a, b] = shared.daemons;
  // Held until every read is made, so the deliveries are still queued when the daemons race for them.
  let open = false;
  const accepted = new Map<string, number>();
  const receiver = await startReceiver(t, (request) => {
    if (!open) return 503;
    const id = String(request.headers['x-ams-delivery-id']);
    accepted.set(id, (accepted.get(id) ?? 0) + 1);
    return 204;
  });
  const created = await a!.call({ method: 'POST', url: '/v1/notification-channels', body: { name: 'SOC', kind: 'webhook', url: `${receiver.url}/hook`, bodyTemplate: '{"code": "{{Code}}"}' } });
  t.equal(created.statusCode, 201, created.body);
  const patched = await a!.call({ method: 'PATCH', url: '/v1/service-config', body: { globalChannelsSuccess: ['SOC'] } });
  t.equal(patched.statusCode, 200, patched.body);
  await shared.inStep();
  const reads = 8;
  for (let i = 0; i < reads; i++) {
    const res = await (i % 2 ? a! : b!).call({ method: 'POST', url: LAPS, key: shared.helpdesk, body: { computerName: shared.computerName } });
    t.equal(res.statusCode, 200, res.body);
  }
  await untilTrue(async () => (await b!.call({ url: '/v1/notification-deliveries?status=pending' })).json().items.length === reads, 'every read is queued');
  const listed = await b!.call({ url: '/v1/notification-deliveries?status=pending' });
  assertMatchesSpec(t, listed, 'listNotificationDeliveries');
  t.same(listed.json().items.map((d: { id: string }) => d.id).sort(), (await a!.call({ url: '/v1/notification-deliveries?status=pending' })).json().items.map((d: { id: string }) => d.id).sort(), 'both daemons list the same queue');
  open = true;
  await untilTrue(async () => (await a!.call({ url: '/v1/notification-deliveries?status=pending' })).json().items.length === 0, 'every delivery is made', 20_000);
  t.equal(accepted.size, reads, 'one delivery per read');
  t.same([...accepted.values()].filter((n) => n !== 1), [], 'each accepted exactly once');
  t.same(new Set(listed.json().items.map((d: { id: string }) => d.id)), new Set(accepted.keys()), 'the ones that were queued');
});
