/**
 * Test-AmsTenant against the simulated tenant over real TLS, MSAL really acquiring tokens: a wrong
 * secret is named as such, a right one passes every check, a missing permission is named.
 */
import t from 'tap';
import { assertMatchesSpec, registerTenant, simulatedTenantFor, startTestDaemon, type TestContext } from '../helpers.js';

async function setUp(t: TestContext) {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 10 });
  const daemon = await startTestDaemon(t, undefined, { caFile });
  const register = (credential: Record<string, string>) => registerTenant(t, daemon, tenant, credential);
  const check = async () => {
    const res = await daemon.call({ method: 'POST', url: `/v1/tenants/${tenant.tenantId}/test` });
    assertMatchesSpec(t, res, 'testTenant');
    return res.json<{ succeeded: boolean; checks: { name: string; succeeded: boolean; detail: string; permission?: string }[] }>();
  };
  return { tenant, daemon, register, check };
}

t.test('a wrong secret fails sign-in with Entra’s reason, and nothing else is tried', async (t) => {
  const { daemon, register, check, tenant } = await setUp(t);
  await register({ clientSecret: 'not-the-secret' });
  const report = await check();
  t.equal(report.succeeded, false);
  t.match(report.checks[0], { name: 'signIn', succeeded: false, detail: /AADSTS7000215/ });
  t.same(report.checks.slice(1).map((c) => c.succeeded), [false, false, false, false, false, false]);
  t.equal(tenant.callCount('/v1.0'), 0, 'no Graph call without a token');
  t.notOk(JSON.stringify(report).includes('not-the-secret'), 'the secret is not echoed');
  t.notOk(daemon.logLines.join('\n').includes(tenant.app.clientSecret));
});

t.test('the right secret passes every check; a missing permission is named', async (t) => {
  const { register, check, tenant } = await setUp(t);
  await register({ clientSecret: tenant.app.clientSecret });
  const report = await check();
  t.equal(report.succeeded, true, JSON.stringify(report.checks.filter((c) => !c.succeeded)));
  t.same(report.checks.map((c) => c.name), ['signIn', 'readDevices', 'readLapsMetadata', 'readGroups', 'readBitLockerMetadata', 'findIntuneDevices', 'rotateLapsPasswords']);
  t.equal(tenant.callCount('/v1.0/directory/deviceLocalCredentials/'), 0, 'no password was read to find out');

  tenant.app.permissions.delete('BitlockerKey.Read.All');
  const without = await check();
  t.equal(without.succeeded, false);
  t.match(without.checks.find((c) => c.name === 'readBitLockerMetadata'), { succeeded: false, permission: 'BitlockerKey.Read.All', detail: /grant the application permission BitlockerKey\.Read\.All/ });
  t.same(without.checks.filter((c) => !c.succeeded).map((c) => c.name), ['readBitLockerMetadata'], 'only that check fails');
});

t.test('a certificate credential signs in too', async (t) => {
  const { register, check, tenant } = await setUp(t);
  await register({ certificatePem: tenant.app.certificate.certificatePem, privateKeyPem: tenant.app.certificate.privateKeyPem });
  const report = await check();
  t.equal(report.succeeded, true, JSON.stringify(report.checks.filter((c) => !c.succeeded)));
});

t.test('an unknown tenant is 404, a user key 403', async (t) => {
  const { daemon } = await setUp(t);
  const missing = await daemon.call({ method: 'POST', url: '/v1/tenants/00000000-0000-4000-8000-000000000000/test' });
  t.equal(missing.statusCode, 404);
  assertMatchesSpec(t, missing, 'testTenant');
  const user = (await daemon.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'u', role: 'user' } })).json();
  t.equal((await daemon.call({ method: 'POST', url: '/v1/tenants/00000000-0000-4000-8000-000000000000/test', key: user.key })).statusCode, 403);
});

t.test('a bodiless POST to an operation that takes no body is answered, whatever Content-Type it claims', async (t) => {
  // PowerShell's Invoke-WebRequest sends a POST without -Body as application/x-www-form-urlencoded.
  const { register, tenant, daemon } = await setUp(t);
  await register({ clientSecret: tenant.app.clientSecret });
  for (const contentType of ['application/x-www-form-urlencoded', 'application/json', 'text/plain']) {
    const res = await daemon.call({ method: 'POST', url: `/v1/tenants/${tenant.tenantId}/test`, headers: { 'content-type': contentType, 'content-length': '0' } });
    t.equal(res.statusCode, 200, `${contentType}: ${res.body}`);
  }
  const withBody = await daemon.call({ method: 'POST', url: '/v1/api-keys', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=x' });
  t.equal(withBody.statusCode, 415, 'an operation that takes a body still wants JSON');
});

t.test('an unreachable Entra ID is named, with the host and the cause', async (t) => {
  const { register, tenant, daemon, check } = await setUp(t);
  await register({ clientSecret: tenant.app.clientSecret });
  // A port nothing listens on: connection refused.
  const probe = await import('node:net').then((net) => net.createServer());
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const moved = await daemon.call({ method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body: { authorityHost: `https://127.0.0.1:${port}` } });
  t.equal(moved.statusCode, 200, moved.body);
  const report = await check();
  t.equal(report.checks[0]!.succeeded, false);
  t.match(report.checks[0]!.detail, new RegExp(`127\\.0\\.0\\.1:${port}`), 'the host');
  t.match(report.checks[0]!.detail, /refused/i, 'and the cause');
  t.notMatch(report.checks[0]!.detail, /aka\.ms\/msal/, 'not MSAL’s link');
});
