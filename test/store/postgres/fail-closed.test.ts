/**
 * Failing closed: while its PostgreSQL server is down, a daemon refuses secret reads (503, no secret;
 * the shared audit trail is in that database, so the refusal is in the daemon's log only) and changes (503, not 500), and answers /v1/health with 503 so that
 * a load balancer takes it out; once the server is back, it serves again by itself, without a restart.
 */
import t from 'tap';
import { assertMatchesSpec } from '../../helpers.js';
import { needsPostgres, postgresClusterFor } from './cluster.js';
import { LAPS, sharedDaemons, until } from './shared-daemons.js';

const postgres = postgresClusterFor(t);

t.test('the database down: reads, changes and health answer 503 and no secret leaves; back up: the daemon serves again by itself', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const cluster = await postgres.cluster();
  const { daemons: [daemon], helpdesk, computerName, password } = await sharedDaemons(t, url, 1);
  const read = () => daemon!.call({ method: 'POST', url: LAPS, key: helpdesk, body: { computerName, reason: 'ticket 1' } });
  const before = await read();
  t.equal(before.statusCode, 200, before.body);
  t.equal(before.json().password, password);

  await cluster.stopServer();
  t.teardown(() => cluster.startServer().catch(() => undefined)); // should the test fail half-way
  const refused = await read();
  t.equal(refused.statusCode, 503, 'a secret read is refused');
  t.match(refused.headers['content-type'], /^application\/problem\+json/);
  t.ok(Number(refused.headers['retry-after']) >= 1, 'with Retry-After');
  t.match(refused.json(), { type: 'urn:amsd:problem:database-unreachable', detail: /database cannot be reached, so no secret is returned/ });
  t.notMatch(refused.body, password, 'no secret leaves');
  t.notMatch(refused.body, /127\.0\.0\.1|postgres:/, 'nor where the database is');
  assertMatchesSpec(t, refused, 'getLocalAdminPassword');
  t.equal((await read()).statusCode, 503, 'and the next one too (known unreachable: no round trip needed)');
  const trail = await daemon!.call({ url: '/v1/audit-events?type=secret.read&top=1' });
  t.equal(trail.statusCode, 503, `the shared trail is in the database too: not readable, and the refusals not recorded there (${trail.body})`);
  t.match(trail.json(), { type: 'urn:amsd:problem:database-unreachable', detail: /audit trail cannot be shown/ });
  assertMatchesSpec(t, trail, 'listAuditEvents');

  const change = await daemon!.call({ method: 'PATCH', url: '/v1/service-config', body: { userRateLimitPerMinute: 7 } });
  t.equal(change.statusCode, 503, `a change is refused with 503, not 500: ${change.body}`);
  t.ok(Number(change.headers['retry-after']) >= 1);
  t.match(change.json(), { type: 'urn:amsd:problem:database-unreachable', detail: /nothing was changed/ });
  assertMatchesSpec(t, change, 'updateServiceConfig');
  const newKey = await daemon!.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'while-down', role: 'user' } });
  t.equal(newKey.statusCode, 503, 'a new API key too');

  const deliveries = await daemon!.call({ url: '/v1/notification-deliveries' });
  t.equal(deliveries.statusCode, 503, `the shared queue cannot be listed: ${deliveries.body}`);
  assertMatchesSpec(t, deliveries, 'listNotificationDeliveries');

  const health = await daemon!.call({ url: '/v1/health', key: null });
  t.equal(health.statusCode, 503, 'health answers 503: a load balancer takes the daemon out');
  t.match(health.json(), { status: 'unavailable', database: 'unreachable' });
  t.ok(Number(health.headers['retry-after']) >= 1);
  assertMatchesSpec(t, health, 'getHealth');

  await cluster.startServer();
  // No request is needed for it to notice: the revision poll succeeds again.
  await until(() => daemon!.store && (daemon!.store as { reachability?: { reachable: boolean } }).reachability?.reachable === true, 'the daemon sees the database again');
  const after = await read();
  t.equal(after.statusCode, 200, `reads work again without a restart: ${after.body}`);
  t.equal(after.json().password, password);
  const healthy = await daemon!.call({ url: '/v1/health', key: null });
  t.equal(healthy.statusCode, 200);
  t.match(healthy.json(), { status: 'ok', database: 'ok' });
  const changed = await daemon!.call({ method: 'PATCH', url: '/v1/service-config', body: { userRateLimitPerMinute: 7 } });
  t.equal(changed.statusCode, 200, `and changes: ${changed.body}`);
});
