/**
 * Rotation jobs shared by two daemons on one PostgreSQL database: a rotation scheduled by a read
 * through A is run once (one action sent to Intune) by whichever daemon claims it; a second read
 * through B before it is due joins it; both list the same jobs.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createKey, createRule, registerTenant, simulatedTenantFor, startTestDaemon, tempDir, type TestDaemon } from '../helpers.js';
import { needsPostgres, postgresClusterFor } from '../store/postgres/cluster.js';
import { nextChange } from '../store/postgres/wait.js';

const postgres = postgresClusterFor(t);
const testing = { rotationBackoffMs: [100], rotationPollMs: 100 };

async function twoDaemons(t: Test, caFile: string): Promise<{ a: TestDaemon; b: TestDaemon }> {
  const url = await postgres.database();
  const keyFile = join(await tempDir(t), 'master.key');
  await writeFile(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  const options = { databaseUrl: url, masterKeyFile: keyFile, logLevel: 'warn' as const, caFile, testing };
  const a = await startTestDaemon(t, undefined, options);
  const b = await startTestDaemon(t, undefined, { ...options, adminKey: a.adminKey });
  return { a, b };
}

const rotations = async (daemon: TestDaemon, query = '') => (await daemon.call({ url: `/v1/password-rotations${query}` })).json().items as Record<string, unknown>[];

t.test('a rotation scheduled through one daemon is run once, by one of them', needsPostgres(t), async (t) => {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 10, rotationDelayMs: 10 });
  const { a, b } = await twoDaemons(t, caFile);
  const arrived = nextChange(b.store, (c) => c.collections.has('rules'));
  await registerTenant(t, a, tenant);
  const user = tenant.directory.users[0]!;
  const key = await createKey(t, a, { name: 'helpdesk', role: 'user', tenantId: tenant.tenantId, principalId: user.id });
  await createRule(t, a, { description: 'Helpdesk: rotated a minute after reading', tenantId: tenant.tenantId, principalsAllowedLaps: ['AMS-Helpdesk'], rotateAfterReadMinutes: 1 });
  await arrived;

  const read = (daemon: TestDaemon) => daemon.call({ method: 'POST', url: '/v1/secrets/local-admin-password', key, body: { computerName: 'PC-0001' } });
  const first = (await read(a)).json();
  const second = (await read(b)).json();
  t.ok(first.rotationId);
  t.equal(second.rotationId, first.rotationId, 'the read through B joins the rotation scheduled through A');
  t.same((await rotations(b)).map((j) => j.id), [first.rotationId], 'both daemons list the one job');

  // Now due for both workers at once.
  const reset = await b.call({ method: 'POST', url: '/v1/secrets/local-admin-password/rotation', body: { computerName: 'PC-0001' } });
  t.equal(reset.statusCode, 202);
  t.equal(reset.json().id, first.rotationId, 'asking for it now moves the same job to now');
  for (let i = 0; i < 200 && (await rotations(a, '?status=done')).length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal((await rotations(a, '?status=done')).length, 1, 'done');
  // Both workers poll every 100 ms: give each several looks before counting.
  await new Promise((resolve) => setTimeout(resolve, 600));
  t.equal(tenant.intune.rotations.length, 1, 'one action sent to Intune, not one per daemon');
  t.equal((await a.call({ url: '/v1/audit-events?type=rotation.completed' })).json().items.length, 1, 'one completion on the shared trail');
});
