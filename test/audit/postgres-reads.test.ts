/**
 * A daemon on `--database` audits into the shared trail: a read's event is in the database before the
 * secret leaves, and when it cannot be committed the read answers 503 and returns no secret, as with
 * a disk that fails under the file trail; once the database takes events again, so do reads. Two
 * daemons reading at once write one chain.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { verifyDatabaseChain } from '../../daemon/audit/postgres-verify.js';
import { inSnapshot, withClient } from '../../daemon/store/postgres/connections.js';
import type { PostgresStore } from '../../daemon/store/postgres/postgres-store.js';
import { createKey, createRule, registerTenant, simulatedTenantFor, startTestDaemon, tempDir, type TestDaemon } from '../helpers.js';
import { needsPostgres, postgresClusterFor } from '../store/postgres/cluster.js';

const postgres = postgresClusterFor(t);
const LAPS = '/v1/secrets/local-admin-password';

async function setUp(t: Test, daemons = 1) {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 10 });
  const url = await postgres.database();
  const masterKeyFile = join(await tempDir(t), 'master.key');
  await writeFile(masterKeyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  const a = await startTestDaemon(t, undefined, { caFile, databaseUrl: url, masterKeyFile, logLevel: 'fatal' });
  // Room for the reads of the test, whichever daemon counts them (set before the others start: they read it at start).
  const limits = { userRateLimitPerMinute: 1000, userRateLimitPerHour: 1000, userRateLimitPerDay: 1000, ipRateLimitPerMinute: 1000, ipRateLimitPerHour: 1000, ipRateLimitPerDay: 1000 };
  t.equal((await a.call({ method: 'PATCH', url: '/v1/service-config', body: limits })).statusCode, 200);
  await registerTenant(t, a, tenant);
  await createRule(t, a, { description: 'Helpdesk', tenantId: tenant.tenantId, principalsAllowedLaps: ['AMS-Helpdesk'] });
  const key = await createKey(t, a, { name: 'helpdesk', role: 'user', tenantId: tenant.tenantId, principalId: tenant.directory.users[0]!.id });
  // The others start on the state A made (how fast a change reaches a running daemon is two-daemons.test.ts's concern).
  const all: TestDaemon[] = [a];
  for (let i = 1; i < daemons; i++) all.push(await startTestDaemon(t, undefined, { caFile, databaseUrl: url, masterKeyFile, adminKey: a.adminKey, logLevel: 'fatal' }));
  return { tenant, url, daemons: all, key, device: tenant.directory.devices[0]! };
}

const chainOf = (daemon: TestDaemon) => {
  const store = daemon.store as PostgresStore;
  return withClient(store.pool, (client) => inSnapshot(client, () => verifyDatabaseChain(client, daemon.audit.key, store.state.auditTrail?.checkpoint)));
};

t.test('on --database, a read whose event cannot be committed answers 503 and returns no secret', needsPostgres(t), async (t) => {
  const { url, daemons, key, device } = await setUp(t);
  const daemon = daemons[0]!;
  const read = () => daemon.call({ method: 'POST', url: LAPS, key, body: { computerName: device.displayName } });
  t.equal((await read()).statusCode, 200);
  const cluster = await postgres.cluster();
  await cluster.query(url, `CREATE FUNCTION refuse_reads() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.type = 'secret.read' THEN RAISE EXCEPTION 'no room (test)'; END IF; RETURN NEW; END $$;
                            CREATE TRIGGER refuse_reads BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_reads();`);
  const events = await cluster.query<{ n: string }>(url, 'SELECT count(*) AS n FROM audit_events');
  const refused = await read();
  t.equal(refused.statusCode, 503);
  t.match(refused.json(), { code: 'AuditUnavailable' });
  t.notMatch(refused.body, device.laps!.expected[0]!.password, 'the password is not in the answer');
  t.equal((await cluster.query<{ n: string }>(url, 'SELECT count(*) AS n FROM audit_events')).rows[0]!.n, events.rows[0]!.n, 'nothing was written');
  await cluster.query(url, 'DROP TRIGGER refuse_reads ON audit_events');
  t.equal((await read()).statusCode, 200, 'once the database takes events again, so do reads');
  t.match(await chainOf(daemon), { ok: true });
});

t.test('two daemons reading at once: one chain, every read on it once', needsPostgres(t), async (t) => {
  const { daemons, key, device } = await setUp(t, 2);
  const before = daemons[0]!.audit.head.seq;
  const reads = await Promise.all(
    Array.from({ length: 40 }, (_, i) => daemons[i % 2]!.call({ method: 'POST', url: LAPS, key, body: { computerName: device.displayName } })),
  );
  t.same([...new Set(reads.map((r) => r.statusCode))], [200]);
  const result = await chainOf(daemons[1]!);
  t.match(result, { ok: true });
  const page = (await daemons[1]!.call({ url: '/v1/audit-events?type=secret.read&top=1000' })).json<{ items: { seq: number }[] }>().items;
  t.equal(page.length, 40, 'every read once, whichever daemon served it');
  t.ok(result.ok && result.events >= before + 40);
});
