/**
 * Get-AmsDevice against the simulated tenant over TLS: one device by name or id, duplicates answered
 * with the candidates, lookups cached, Graph's failures turned into problems a caller can act on.
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import t from 'tap';
import { assertMatchesSpec, registerTenant, simulatedTenantFor, startTestDaemon, type TestContext } from '../helpers.js';

async function setUp(t: TestContext, options: { register?: boolean } = {}) {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 30 });
  const daemon = await startTestDaemon(t, undefined, { caFile });
  if (options.register !== false) await registerTenant(t, daemon, tenant);
  const lookup = async (query: string, key?: string) => {
    const res = await daemon.call({ url: `/v1/devices?${query}`, ...(key ? { key } : {}) });
    assertMatchesSpec(t, res, 'listDevices');
    return res;
  };
  const byName = new Map<string, typeof tenant.directory.devices>();
  for (const d of tenant.directory.devices) byName.set(d.displayName, [...(byName.get(d.displayName) ?? []), d]);
  const unique = [...byName.values()].find((list) => list.length === 1)![0]!;
  const duplicated = [...byName.values()].find((list) => list.length > 1)!;
  return { tenant, daemon, lookup, unique, duplicated };
}

t.test('a device is found by name or by id, by any authenticated caller', async (t) => {
  const { tenant, daemon, lookup, unique } = await setUp(t);
  const user = (await daemon.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'helpdesk', role: 'user' } })).json();
  const res = await lookup(`name=${encodeURIComponent(unique.displayName)}`, user.key);
  t.equal(res.statusCode, 200);
  t.equal(res.json().items.length, 1);
  t.match(res.json().items[0], { deviceName: unique.displayName, deviceId: unique.deviceId, objectId: unique.id, tenantId: tenant.tenantId, operatingSystem: unique.operatingSystem });
  t.equal(res.headers['cache-control'], 'no-store');

  const byId = await lookup(`deviceId=${unique.deviceId}`);
  t.equal(byId.json().items[0].deviceName, unique.displayName);
});

t.test('a duplicated name is a 409 listing every candidate', async (t) => {
  const { tenant, lookup, duplicated } = await setUp(t);
  const res = await lookup(`name=${encodeURIComponent(duplicated[0]!.displayName)}`);
  t.equal(res.statusCode, 409);
  const problem = res.json();
  t.same(
    problem.candidates.map((c: { deviceId: string }) => c.deviceId).sort(),
    duplicated.map((d) => d.deviceId).sort(),
  );
  t.ok(problem.candidates.every((c: { tenantId: string }) => c.tenantId === tenant.tenantId));
  t.match(problem.detail, /Ask again with deviceId\./, "the field to use, not a PowerShell parameter");
});

t.test('lookups are cached; unknown names are 404, quotes are escaped, bad queries are 400', async (t) => {
  const { tenant, lookup, unique } = await setUp(t);
  tenant.resetCalls();
  await lookup(`name=${encodeURIComponent(unique.displayName)}`);
  await lookup(`name=${encodeURIComponent(unique.displayName)}`);
  t.equal(tenant.callCount('/v1.0/devices'), 1, 'the second lookup costs no Graph call');

  const missing = await lookup(`name=${encodeURIComponent("O'Brien-PC")}`);
  t.equal(missing.statusCode, 404, 'a quote in the name is escaped, not an OData error');
  t.match(missing.json().detail, /No device with the name 'O'Brien-PC'/);

  t.equal((await lookup('')).statusCode, 200, 'no name nor id lists the devices');
  t.equal((await lookup(`name=x&deviceId=${unique.deviceId}`)).statusCode, 400);
  t.equal((await lookup('deviceId=not-a-guid')).statusCode, 400);
});

t.test("Graph's failures become problems the caller can act on", async (t) => {
  const { tenant, lookup, unique } = await setUp(t);
  tenant.faults.inject('/v1.0/devices', { kind: 'throttle', retryAfter: 30 });
  const throttled = await lookup(`name=${encodeURIComponent(unique.displayName)}`);
  t.equal(throttled.statusCode, 503);
  t.equal(throttled.headers['retry-after'], '30', "Graph's Retry-After is passed on");

  tenant.faults.inject('/v1.0/devices', { kind: 'throttle', retryAfter: 0.05, times: 2 });
  const recovered = await lookup(`name=${encodeURIComponent(unique.displayName)}`);
  t.equal(recovered.statusCode, 200, 'short throttling is waited out');

});

t.test('a missing Graph permission is a 502 naming it, not a 403', async (t) => {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 5, permissions: ['DeviceLocalCredential.Read.All'] });
  const daemon = await startTestDaemon(t, undefined, { caFile });
  await registerTenant(t, daemon, tenant);
  const res = await daemon.call({ url: `/v1/devices?name=${tenant.directory.devices[0]!.displayName}` });
  assertMatchesSpec(t, res, 'listDevices');
  t.equal(res.statusCode, 502);
  t.match(res.json(), { type: 'urn:amsd:problem:graph-permission-missing', detail: /Device\.Read\.All.*Graph request-id: / });
});

t.test('without an enabled tenant the caller is told to add one', async (t) => {
  const { lookup } = await setUp(t, { register: false });
  const res = await lookup('name=PC-0001');
  t.equal(res.statusCode, 409);
  t.match(res.json().detail, /Add one with createTenant \(POST \/v1\/tenants\)/);
});

t.test('a changed or removed tenant takes effect on the next lookup, not after a restart', async (t) => {
  const { tenant, daemon, lookup, unique } = await setUp(t);
  const other = tenant.directory.devices.find((d) => d.deviceId !== unique.deviceId)!;
  t.equal((await lookup(`deviceId=${unique.deviceId}`)).statusCode, 200, 'the Graph client is built and its token cached');

  const wrong = await daemon.call({ method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body: { clientSecret: 'not-the-secret' } });
  t.equal(wrong.statusCode, 200);
  const res = await lookup(`deviceId=${other.deviceId}`);
  t.equal(res.statusCode, 502, 'the new (wrong) secret is used at once: the cached client and its token are gone');
  t.match(res.json().detail, /AADSTS7000215|secret/i);

  await daemon.call({ method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body: { clientSecret: tenant.app.clientSecret } });
  t.equal((await lookup(`deviceId=${other.deviceId}`)).statusCode, 200, 'and the right one again');

  t.equal((await daemon.call({ method: 'DELETE', url: `/v1/tenants/${tenant.tenantId}` })).statusCode, 204);
  const removed = await lookup(`deviceId=${tenant.directory.devices[2]!.deviceId}&tenantId=${tenant.tenantId}`);
  t.equal(removed.statusCode, 404, 'a removed tenant is not asked');
  t.match(removed.json().detail, /No tenant .* is configured/);
});

t.test('without a name or id, devices are listed page by page across tenants, each exactly once', async (t) => {
  const first = await simulatedTenantFor(t, { devices: 23, seed: 1 });
  const second = await simulatedTenantFor(t, { devices: 9, seed: 2, tenantId: randomUUID() });
  const caFile = `${first.caFile}.both.pem`;
  await writeFile(caFile, first.tenant.caCertificatePem + second.tenant.caCertificatePem);
  const daemon = await startTestDaemon(t, undefined, { caFile });
  await registerTenant(t, daemon, first.tenant);
  await registerTenant(t, daemon, second.tenant, { clientSecret: second.tenant.app.clientSecret });

  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const res = await daemon.call({ url: `/v1/devices?top=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}` });
    assertMatchesSpec(t, res, 'listDevices');
    t.equal(res.statusCode, 200, res.statusCode === 200 ? 'a page' : res.body);
    const page = res.json();
    t.ok(page.items.length <= 7, 'a page holds at most top devices');
    seen.push(...page.items.map((d: { objectId: string }) => d.objectId));
    cursor = page.nextCursor;
  } while (cursor && ++pages < 20);
  const expected = [...first.tenant.directory.devices, ...second.tenant.directory.devices].map((d) => d.id);
  t.same([...seen].sort(), [...expected].sort(), 'every device of both tenants, each once');

  const one = await daemon.call({ url: `/v1/devices?tenantId=${second.tenant.tenantId}&top=999` });
  t.equal(one.json().items.length, 9, 'tenantId lists one tenant');
  t.notOk(one.json().nextCursor, 'and the last page has no cursor');
});

t.test('a cursor must be one the daemon issued, and only for listing', async (t) => {
  const { lookup, unique } = await setUp(t);
  const page = (await lookup('top=5')).json();
  t.ok(page.nextCursor);
  const [payload] = page.nextCursor.split('.');
  const forgedPayload = Buffer.from(JSON.stringify({ tenantId: unique.id, nextLink: 'https://evil.example/v1.0/devices' })).toString('base64url');
  for (const cursor of [`${forgedPayload}.${page.nextCursor.split('.')[1]}`, `${payload}.AAAA`, 'garbage']) {
    const res = await lookup(`cursor=${encodeURIComponent(cursor)}`);
    t.equal(res.statusCode, 400, 'a cursor not signed by the daemon is refused before Graph is called');
    t.match(res.json().errors, [{ path: 'query/cursor', message: /not a cursor this daemon issued/ }]);
  }
  const mixed = await lookup(`name=${encodeURIComponent(unique.displayName)}&cursor=${encodeURIComponent(page.nextCursor)}`);
  t.equal(mixed.statusCode, 400);
  t.equal((await lookup('top=0')).statusCode, 400, 'top below 1');
  t.equal((await lookup('top=1000')).statusCode, 400, 'top above 999');
});

t.test('the device cache lifetime is a setting that applies at once', async (t) => {
  const { tenant, daemon, lookup, unique } = await setUp(t);
  await lookup(`name=${encodeURIComponent(unique.displayName)}`);
  await daemon.call({ method: 'PATCH', url: '/v1/service-config', body: { deviceCacheSeconds: 0 } });
  tenant.resetCalls();
  await lookup(`name=${encodeURIComponent(unique.displayName)}`);
  await lookup(`name=${encodeURIComponent(unique.displayName)}`);
  t.equal(tenant.callCount('/v1.0/devices'), 2, 'with the cache off, every lookup asks Graph, including for what was cached before');
});
