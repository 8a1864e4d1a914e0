/**
 * Two daemons on one PostgreSQL database (`--database`), each with its own data directory (its audit
 * trail, queue and rate limits) and the same master key: an API key made through A is accepted by B
 * and, revoked through B, refused by A; settings changed through one apply on the other; health says
 * whether the database answers; a daemon with another master key refuses to start; and the real
 * `amsd serve --database` never prints the URL's password.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { packageRoot } from '../../openapi/package-root.js';
import { assertMatchesSpec, createRule, registerTenant, simulatedTenantFor, startTestDaemon, tempDir, type TestDaemon } from '../helpers.js';
import { needsPostgres, postgresClusterFor } from '../store/postgres/cluster.js';
import { nextChange } from '../store/postgres/wait.js';

const postgres = postgresClusterFor(t);

async function masterKeyFile(t: Test): Promise<string> {
  const file = join(await tempDir(t), 'master.key');
  await writeFile(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  return file;
}

async function twoDaemons(t: Test, caFile?: string): Promise<{ url: string; a: TestDaemon; b: TestDaemon }> {
  const url = await postgres.database();
  const keyFile = await masterKeyFile(t);
  const options = { databaseUrl: url, masterKeyFile: keyFile, logLevel: 'warn' as const, ...(caFile ? { caFile } : {}) };
  const a = await startTestDaemon(t, undefined, options);
  const b = await startTestDaemon(t, undefined, { ...options, adminKey: a.adminKey });
  return { url, a, b };
}

t.test('an API key made through A works on B at once; revoked through B, A refuses it', needsPostgres(t), async (t) => {
  const { a, b } = await twoDaemons(t);
  t.equal(b.bootstrapKeyFile, undefined, 'only the first daemon on the database writes an admin key');
  t.equal((await b.call({ url: '/v1/me' })).statusCode, 200, 'B accepts the admin key A wrote');

  const arrived = nextChange(b.store, (c) => c.collections.has('apiKeys'));
  const created = await a.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'script', role: 'user' } });
  t.equal(created.statusCode, 201);
  await arrived;
  const { key, id } = created.json<{ key: string; id: string }>();
  t.equal((await b.call({ url: '/v1/me', key })).statusCode, 200, 'B accepts the key A made');

  const revokedOnA = nextChange(a.store, (c) => c.collections.get('apiKeys')?.keys.includes(id) ?? false);
  t.equal((await b.call({ method: 'DELETE', url: `/v1/api-keys/${id}` })).statusCode, 200);
  await revokedOnA;
  t.equal((await a.call({ url: '/v1/me', key })).statusCode, 401, 'and A refuses it once B revoked it');
});

t.test('a tenant and a rule made through A: B decides by the rule at once, and no longer once A deleted it', needsPostgres(t), async (t) => {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 10 });
  const { a, b } = await twoDaemons(t, caFile);
  const tenantArrived = nextChange(b.store, (c) => c.collections.has('tenants'));
  await registerTenant(t, a, tenant);
  await tenantArrived;
  const user = tenant.directory.users[0]!;
  const device = tenant.directory.devices[0]!;
  const access = async (daemon: TestDaemon) => {
    const res = await daemon.call({ url: `/v1/effective-access?user=${encodeURIComponent(user.userPrincipalName)}&computerName=${device.displayName}` });
    t.equal(res.statusCode, 200, res.body);
    return res.json<{ access: { accessType: string; allowed: boolean; grantingRuleId?: string }[] }>().access.find((x) => x.accessType === 'LocalAdminPassword');
  };
  t.match(await access(b), { allowed: false }, 'B knows the tenant A registered; no rule yet');
  const arrived = nextChange(b.store, (c) => c.collections.has('rules'));
  const rule = await createRule(t, a, { description: 'Helpdesk, tenant-wide', tenantId: tenant.tenantId, principalsAllowedLaps: [user.userPrincipalName] });
  await arrived;
  t.match(await access(b), { allowed: true, grantingRuleId: rule.id }, 'B grants by the rule made through A (its rule index updated from the change)');
  const gone = nextChange(b.store, (c) => c.collections.get('rules')?.keys.includes(rule.id) ?? false);
  t.equal((await a.call({ method: 'DELETE', url: `/v1/computer-authorization-rules/${rule.id}` })).statusCode, 204);
  await gone;
  t.match(await access(b), { allowed: false }, 'and refuses once A deleted it');
});

t.test('settings changed through A are in force on B, and on the one audit trail both read', needsPostgres(t), async (t) => {
  const { a, b } = await twoDaemons(t);
  const arrived = nextChange(b.store, (c) => c.collections.has('settings'));
  const patched = await a.call({ method: 'PATCH', url: '/v1/service-config', body: { userRateLimitPerMinute: 3 } });
  t.equal(patched.statusCode, 200, patched.body);
  await arrived;
  t.equal((await b.call({ url: '/v1/service-config' })).json().userRateLimitPerMinute, 3);
  const eventsOf = async (daemon: TestDaemon) => ((await daemon.call({ url: '/v1/audit-events?top=50' })).json<{ items?: { type?: string }[] }>()).items ?? [];
  t.ok((await eventsOf(a)).some((e) => e.type === 'settings.updated'), 'the change is on the trail of the daemon that made it');
  t.ok((await eventsOf(b)).some((e) => e.type === 'settings.updated'), 'B sees it too: one trail for every daemon');
});

t.test('health says whether the database answers', needsPostgres(t), async (t) => {
  const { url, a } = await twoDaemons(t);
  const cluster = await postgres.cluster();
  const healthy = await a.call({ url: '/v1/health', key: null });
  t.match(healthy.json(), { status: 'ok', database: 'ok' });
  assertMatchesSpec(t, healthy, 'getHealth');
  const name = new URL(url).pathname.slice(1);
  const admin = url.replace(`/${name}`, '/postgres');
  await cluster.query(admin, `ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
  await cluster.query(admin, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
  const down = await a.call({ url: '/v1/health', key: null });
  t.equal(down.statusCode, 503, 'a load balancer takes the daemon out');
  t.match(down.json(), { status: 'unavailable', database: 'unreachable' }, 'the daemon answers, and says the database does not');
  assertMatchesSpec(t, down, 'getHealth');
  await cluster.query(admin, `ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
  t.match((await a.call({ url: '/v1/health', key: null })).json(), { database: 'ok' }, 'and answers again once it is back');
});

t.test('a daemon with another master key refuses to start on the database, saying so', needsPostgres(t), async (t) => {
  const { url } = await twoDaemons(t);
  const other = await masterKeyFile(t);
  await t.rejects(startTestDaemon(t, undefined, { databaseUrl: url, masterKeyFile: other, logLevel: 'warn', adminKey: 'unused' }), {
    name: 'MasterKeyMismatchError',
    message: new RegExp(`The master key \\(${other.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\) is not the one the database .* was first used with`),
  });
});

t.test('amsd serve --database: the banner names the database without its password, health says it answers, SIGTERM stops it', needsPostgres(t), async (t) => {
  const url = (await postgres.database()).replace('postgres@', 'postgres:Sup3r-Secret-pw@'); // the cluster trusts loopback
  const dataDir = join(await tempDir(t), 'data');
  const keyFile = await masterKeyFile(t);
  const child = spawn(process.execPath, [join(packageRoot, 'dist', 'daemon', 'cli.js'), 'serve', '--port', '0', '--data-dir', dataDir], {
    env: { ...process.env, AMS_DATABASE_URL: url, AMS_MASTER_KEY_FILE: keyFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => void (child.exitCode === null && child.kill('SIGKILL')));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  const banner = new Promise<void>((resolve) => child.stderr.on('data', (chunk) => (stderr += chunk) && /Database: .*\n/.test(stderr) && resolve()));
  const exited = once(child, 'exit');
  await Promise.race([banner, exited.then(() => Promise.reject(new Error(`amsd exited: ${stderr}`)))]);
  t.match(stderr, /Database: {5}postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/amsd_test_\d+ \(the state: API keys, tenants, rules, channels, settings; and the audit trail, one chain for every daemon on it\)/);
  const address = /serving at (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)![1]!;
  t.match(await (await fetch(`${address}/v1/health`)).json(), { status: 'ok', database: 'ok' });
  child.kill('SIGTERM');
  const [code] = await exited;
  t.equal(code, 0, 'a clean stop');
  t.notMatch(stdout + stderr, 'Sup3r-Secret-pw', 'the password is in no log line and not in the banner');
  t.match(stdout, /the state is in PostgreSQL/);
});
