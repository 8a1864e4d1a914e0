/**
 * `amsd demo` as a new user meets it: one command, then the keys and demo.json it wrote work against
 * the running daemon over real HTTP, and a second run on the same data directory picks up where the
 * first left off.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { Agent, request } from 'undici';
import { DEMO_FILE, DEMO_RATE_LIMITS, startDemo, type DemoInfo } from '../../daemon/demo.js';
import { createLogger } from '../../daemon/logging.js';
import { packageRoot } from '../../openapi/package-root.js';
import { tempDir } from '../helpers.js';

const logger = createLogger('silent');

async function get(info: DemoInfo, keyFile: string, path: string) {
  const key = (await readFile(keyFile, 'utf8')).trim();
  const res = await request(`${info.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, any> };
}

t.test('the demo configures a tenant, an admin key and a user key, and says so in demo.json', async (t) => {
  const dataDir = join(await tempDir(t), 'demo');
  const demo = await startDemo({ dataDir, host: '127.0.0.1', port: 0, logger, devices: 20 });
  t.teardown(() => demo.app.close());
  const info = demo.info;

  const written = JSON.parse(await readFile(join(dataDir, DEMO_FILE), 'utf8'));
  t.same(written, info, 'demo.json holds what startDemo reports');
  t.match(info.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.ok(info.sampleDevices.length > 0, 'sample device names to try');
  t.equal((await stat(info.userKeyFile)).mode & 0o777, 0o600, 'the user key file is private');

  const admin = await get(info, info.adminKeyFile, '/v1/me');
  t.equal(admin.body.role, 'admin');
  const user = await get(info, info.userKeyFile, '/v1/me');
  t.match(user.body, { role: 'user', tenantId: info.tenant.tenantId, principalId: info.user.objectId });
  t.equal(user.body.role, info.user.roles.apiKey, "demo.json says the key's role");

  // Limits fit for trying it, set through the settings an administrator sees, and said in demo.json.
  t.same(info.rateLimits.user, DEMO_RATE_LIMITS);
  t.same(info.rateLimits.ip, DEMO_RATE_LIMITS);
  t.match(info.rateLimits.change, /Set-AmsServiceConfig .*PATCH \/v1\/service-config/);
  t.match((await get(info, info.adminKeyFile, '/v1/service-config')).body, { userRateLimitPerMinute: 600, ipRateLimitPerMinute: 600 });

  const device = await get(info, info.userKeyFile, `/v1/devices?name=${encodeURIComponent(info.sampleDevices[0]!)}`);
  t.equal(device.status, 200, 'the user key finds a sample device through the simulated Graph over TLS');
  t.equal(device.body.items[0].deviceName, info.sampleDevices[0]);
  if (info.duplicatedDeviceName) {
    const shared = await get(info, info.userKeyFile, `/v1/devices?name=${encodeURIComponent(info.duplicatedDeviceName)}`);
    t.equal(shared.status, 409, 'the shared name the demo names is ambiguous, as it says');
  }

  // The seeded rules, tried as a new user would: one device allowed, others refused, all on the audit trail.
  const userKey = (await readFile(info.userKeyFile, 'utf8')).trim();
  const readPassword = async (deviceName: string) => {
    const res = await request(`${info.url}/v1/secrets/local-admin-password`, {
      method: 'POST',
      headers: { authorization: `Bearer ${userKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ computerName: deviceName }),
    });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, any> };
  };
  t.ok(info.allowedDevices.length > 0 && info.deniedDevices.some((d) => d.code === 'ExplicitlyDenied') && info.deniedDevices.some((d) => d.code === 'NoMatchingRuleForUser'));
  // More reads in a minute than production allows one address (10): exploring does not lock the user out.
  const burst = await Promise.all(Array.from({ length: 12 }, () => readPassword(info.allowedDevices[0]!)));
  t.same(burst.map((r) => r.status), Array(12).fill(200), 'twelve reads in a row from loopback are all answered');
  const allowed = await readPassword(info.allowedDevices[0]!);
  t.equal(allowed.status, 200, 'the user key reads an allowed device');
  const seeded = demo.tenant.directory.devices.find((d) => d.displayName === info.allowedDevices[0])!;
  t.equal(allowed.body.password, seeded.laps!.expected[0]!.password, "and gets the simulated tenant's password");
  t.ok(Date.parse(allowed.body.passwordExpirationTime) > Date.now(), `a demo password has not already expired (${allowed.body.passwordExpirationTime})`);
  for (const denied of info.deniedDevices) {
    const refused = await readPassword(denied.deviceName);
    t.equal(refused.status, 403, `${denied.deviceName} is refused`);
    t.equal(refused.body.code, denied.code, `with ${denied.code}, as demo.json says`);
  }
  const audit = await get(info, info.adminKeyFile, `/v1/audit-events?type=secret.read&top=${info.deniedDevices.length + 1}`); // the burst is older
  t.same(
    audit.body.items.map((e: { outcome: { code: string } }) => e.outcome.code).reverse(),
    ['Success', ...info.deniedDevices.map((d) => d.code)],
    'every read is on the audit trail, as the admin sees it',
  );

  const signIn = await request(`${info.url}/v1/auth/config`);
  t.match(await signIn.body.json(), { enabled: true, clientId: info.signIn.clientId, scopes: [`${info.signIn.audience}/.default`] }, 'Entra sign-in is offered');
  const token = await demo.tenant.issueUserToken({ oid: info.user.objectId, audience: info.signIn.audience });
  const asUser = await request(`${info.url}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
  t.match(await asUser.body.json(), { kind: 'entra', principalId: info.user.objectId, role: info.user.roles.signIn }, 'signed in, the role demo.json says');
  t.equal(info.user.roles.signIn, 'admin');
  t.match(info.user.roles.why, /user key on purpose.*AMS-Admins \(administratorIds\)/);
});

t.test('a second run on the same data directory reuses its keys and follows the new simulated tenant', async (t) => {
  const dataDir = join(await tempDir(t), 'demo');
  const first = await startDemo({ dataDir, host: '127.0.0.1', port: 0, logger, devices: 10 });
  const userKey = await readFile(first.info.userKeyFile, 'utf8');
  const adminKey = (await readFile(first.info.adminKeyFile, 'utf8')).trim();
  const changed = await request(`${first.info.url}/v1/service-config`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userRateLimitPerMinute: 10 }),
  });
  t.equal(changed.statusCode, 200, "the admin sets a limit back to production's");
  await changed.body.dump();
  await first.app.close();

  const second = await startDemo({ dataDir, host: '127.0.0.1', port: 0, logger, devices: 10 });
  t.teardown(() => second.app.close());
  t.equal(await readFile(second.info.userKeyFile, 'utf8'), userKey, 'the user key still works, so it is kept');
  t.equal(second.info.rateLimits.user.perMinute, 10, "the limit the admin set is kept, not raised to the demo's again");
  t.equal(second.info.rateLimits.ip.perMinute, DEMO_RATE_LIMITS.perMinute);
  t.not(second.info.tenant.authorityHost, first.info.tenant.authorityHost, 'the simulated tenant listens elsewhere this time');
  const device = await get(second.info, second.info.userKeyFile, `/v1/devices?name=${encodeURIComponent(second.info.sampleDevices[0]!)}`);
  t.equal(device.status, 200, 'and the tenant was pointed at it');
});

t.test('a second demo on a data directory in use is refused before it writes anything', async (t) => {
  const dataDir = join(await tempDir(t), 'demo');
  const running = await startDemo({ dataDir, host: '127.0.0.1', port: 0, logger, devices: 10 });
  t.teardown(() => running.app.close());
  // What a demo writes besides what the daemon keeps changing while it runs (amsd.json, the audit trail).
  const written = ['simulated-tenant-ca.pem', 'demo.json', 'demo-user.key', 'bootstrap-admin.key', 'master.key', 'amsd.lock'];
  const files = async () => Object.fromEntries(await Promise.all(written.map(async (f) => [f, await readFile(join(dataDir, f), 'utf8')])));
  const before = await files();

  await t.rejects(startDemo({ dataDir, host: '127.0.0.1', port: 0, logger, devices: 10 }), { name: 'DataDirLockedError', message: /Another amsd .* is using the data directory/ });
  const port = Number(new URL(running.info.url).port);
  await t.rejects(startDemo({ dataDir, host: '127.0.0.1', port, logger, devices: 10 }), { message: `port ${port} is in use on 127.0.0.1; choose another with --port (0 picks a free one)` });
  t.same(await files(), before, "the running demo's CA certificate, keys and demo.json are as they were");
  const caPem = await readFile(running.info.tenant.caFile, 'utf8');
  const discovery = await request(`${running.info.tenant.authorityHost}/${running.info.tenant.tenantId}/v2.0/.well-known/openid-configuration`, { dispatcher: new Agent({ connect: { ca: caPem } }) });
  t.equal(discovery.statusCode, 200, "the CA file still verifies the running simulated tenant's certificate");
  await discovery.body.dump();
  t.equal((await get(running.info, running.info.userKeyFile, '/v1/me')).status, 200, 'and the running demo still serves its keys');
});

t.test('`amsd demo` runs from the command line and stops cleanly on SIGTERM', async (t) => {
  const dataDir = join(await tempDir(t), 'demo');
  const child = spawn(process.execPath, [join(packageRoot, 'dist', 'daemon', 'cli.js'), 'demo', '--port', '0', '--data-dir', dataDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exit = once(child, 'exit');
  const deadline = Date.now() + 90_000; // a bound against a hang: the demo starts a simulated tenant and a daemon
  while (!/Stop with Ctrl\+C/.test(stderr) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.match(stderr, /amsd demo is running at http:\/\/127\.0\.0\.1:\d+/, stderr);
  t.match(stderr, /Connect-AmsServer -Uri/, 'it shows the PowerShell lines to try');
  t.match(stderr, /curl -s -H "Authorization: Bearer/, 'and the shell ones');
  t.match(stderr, /Rate limits +600\/minute, 10000\/hour, 100000\/day per user and per client address/, 'the rate limits it runs with');
  t.match(stderr, /Change them with Set-AmsServiceConfig .*PATCH http:\/\/127\.0\.0\.1:\d+\/v1\/service-config/, 'and how to change them');
  t.match(stderr, /Roles +the user key has role user; user01@contoso\.example signed in by device code has role admin\.\n +On purpose: .*AMS-Admins members/, 'and why the user has two roles');
  child.kill('SIGTERM');
  const [code] = await exit;
  t.equal(code, 0);
});
