/**
 * Secret reads when Entra and Graph misbehave as they do in production, against the simulated tenant:
 * a token Graph revokes, a user in more groups than getMemberGroups returns, a token endpoint that
 * throttles, and a read that would outlast its time budget. Each answer is problem+json and audited.
 */
import t from 'tap';
import { transitiveGroupIds } from '../../daemon/simulated-tenant/directory-data.js';
import { assertMatchesSpec, createKey, createRule, registerTenant, simulatedTenantFor, startTestDaemon, type TestContext } from '../helpers.js';

const LAPS = '/v1/secrets/local-admin-password';

async function setUp(t: TestContext) {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 20 });
  const daemon = await startTestDaemon(t, undefined, { caFile });
  await registerTenant(t, daemon, tenant);
  // users[0] is in AMS-Helpdesk ⊂ AMS-LAPS-Readers ⊂ AMS-Admins.
  const user = tenant.directory.users[0]!;
  const key = await createKey(t, daemon, { name: 'helpdesk', role: 'user', tenantId: tenant.tenantId, principalId: user.id });
  await createRule(t, daemon, { description: 'Helpdesk: every device', tenantId: tenant.tenantId, principalsAllowedLaps: ['AMS-Helpdesk'] });
  const device = tenant.directory.devices[0]!;
  const read = async () => {
    const res = await daemon.call({ method: 'POST', url: LAPS, key, body: { computerName: device.displayName } });
    assertMatchesSpec(t, res, 'getLocalAdminPassword');
    return res;
  };
  const lastEvent = async () => (await daemon.call({ url: '/v1/audit-events?type=secret.read&top=1' })).json().items[0];
  return { tenant, daemon, user, device, read, lastEvent };
}

t.test('a token Graph revokes before it expires is replaced, and the read succeeds', async (t) => {
  const { tenant, device, read } = await setUp(t);
  t.equal((await read()).statusCode, 200);
  const tokenPath = `/${tenant.tenantId}/oauth2/v2.0/token`;
  const tokensBefore = tenant.callCount(tokenPath);

  tenant.revokeAppTokens();
  const res = await read();
  t.equal(res.statusCode, 200, res.body);
  t.equal(res.json().password, device.laps!.expected[0]!.password);
  t.equal(tenant.callCount(tokenPath), tokensBefore + 1, 'one new token');
  t.ok(tenant.calls.some((c) => c.service === 'graph' && c.status === 401), 'Graph did reject the old one');

  tenant.revokeAppTokens({ claimsChallenge: true });
  t.equal((await read()).statusCode, 200, 'after a continuous access evaluation challenge too');
  t.equal(tenant.callCount(tokenPath), tokensBefore + 2);
});

t.test('a user in more groups than getMemberGroups returns is read through transitiveMemberOf, for reads and effective access', async (t) => {
  const { tenant, daemon, user, device, read } = await setUp(t);
  t.equal((await daemon.call({ method: 'PATCH', url: '/v1/service-config', body: { groupCacheSeconds: 0 } })).statusCode, 200, 'each answer from Graph, not a cache');
  const groups = transitiveGroupIds(tenant.directory, user.id);
  t.ok(groups.size > 1);
  tenant.limits.getMemberGroups = 1; // getMemberGroups now answers 400 Directory_ResultSizeLimitExceeded for users[0]
  tenant.resetCalls();

  const res = await read();
  t.equal(res.statusCode, 200, res.body);
  const getMemberGroups = tenant.calls.find((c) => c.path.endsWith('/getMemberGroups'));
  t.equal(getMemberGroups?.status, 400, 'getMemberGroups refused');
  const fallbacks = () => tenant.calls.filter((c) => c.path === `/v1.0/users/${user.id}/transitiveMemberOf/microsoft.graph.group`);
  t.same(fallbacks().map((c) => c.status), [200], 'the documented way answered');

  const access = await daemon.call({ url: `/v1/effective-access?user=${encodeURIComponent(user.userPrincipalName)}&computerName=${device.displayName}` });
  t.equal(access.statusCode, 200, access.body);
  t.equal(access.json().user.groupCount, groups.size, 'every group, found the other way');
  t.equal(fallbacks().length, 2, 'effective access took the same way');
  t.equal(access.json().access.find((a: { accessType: string }) => a.accessType === 'LocalAdminPassword').allowed, true);
});

t.test('a token endpoint that stays unavailable is a 503 naming the host, audited', async (t) => {
  const { tenant, daemon, read, lastEvent } = await setUp(t);
  // A changed tenant gets a new MSAL client, so its token is no longer cached.
  t.equal((await daemon.call({ method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body: { displayName: 'Simulated (renamed)' } })).statusCode, 200);
  tenant.faults.inject(`/${tenant.tenantId}/oauth2/v2.0/token`, { kind: 'unavailable', retryAfter: 0.05, times: 20 });
  const res = await read();
  t.equal(res.statusCode, 503, res.body);
  t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
  t.ok(Number(res.headers['retry-after']) >= 1, 'with Retry-After');
  t.match(res.json(), { type: 'urn:amsd:problem:graph-throttled', detail: new RegExp(`token endpoint \\(${new URL(tenant.authorityHost).host.replace(/\./g, '\\.')}\\) answered 503`) });
  t.notMatch(res.json().detail, /object Object/);
  t.match(await lastEvent(), { outcome: { success: false, code: 'DirectoryError', message: /token endpoint/ } });
});

t.test('a secret read has one time budget: past it, 504, audited', async (t) => {
  const { tenant, daemon, read, lastEvent } = await setUp(t);
  const settings = await daemon.call({ method: 'PATCH', url: '/v1/service-config', body: { secretReadTimeoutSeconds: 1 } });
  t.equal(settings.statusCode, 200, settings.body);
  t.equal((await read()).statusCode, 200, 'a read within its budget');

  tenant.faults.inject('/v1.0/directory/deviceLocalCredentials', { kind: 'hang' });
  const started = Date.now();
  const res = await read();
  const took = Date.now() - started;
  t.equal(res.statusCode, 504, res.body);
  t.match(res.json(), { type: 'urn:amsd:problem:graph-timeout', detail: /within the secret read's time budget \(secretReadTimeoutSeconds\) of 1 s/ });
  t.ok(took < 8_000, `answered at the budget, not at the HTTP stack's 15 s timeout (${took} ms)`);
  t.match(await lastEvent(), { outcome: { success: false, code: 'DirectoryError' } });

  tenant.faults.inject('/v1.0/directory/deviceLocalCredentials', { kind: 'throttle', retryAfter: 5 });
  const throttled = await read();
  t.equal(throttled.statusCode, 503, 'a Retry-After past the budget is not waited for');
  t.equal(throttled.headers['retry-after'], '5');

  const bad = await daemon.call({ method: 'PATCH', url: '/v1/service-config', body: { secretReadTimeoutSeconds: 0 } });
  t.equal(bad.statusCode, 400, 'the budget is at least a second');
});
