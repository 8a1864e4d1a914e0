/**
 * Computer authorization rules as an administrator writes them: principals and targets by the names
 * admins know, resolved through the simulated Graph and stored by id; Set adds and removes; every
 * change on the audit trail with the rule before and after; and Get-AmsEffectiveAccess explaining
 * what the rules decide.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { assertMatchesSpec, createKey, createRule, registerTenant, simulatedTenantFor, startTestDaemon, type TestContext } from '../helpers.js';

const RULES = '/v1/computer-authorization-rules';

async function setUp(t: TestContext) {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 20 });
  const daemon = await startTestDaemon(t, undefined, { caFile });
  await registerTenant(t, daemon, tenant);
  const group = (name: string) => tenant.directory.groups.find((g) => g.displayName === name)!;
  return { tenant, daemon, group, users: tenant.directory.users, devices: tenant.directory.devices };
}

t.test('principals and targets given by name are resolved and stored by id', async (t) => {
  const { tenant, daemon, group, users } = await setUp(t);
  const res = await daemon.call({
    method: 'POST',
    url: RULES,
    body: {
      description: 'Helpdesk reads workstations',
      tenantId: tenant.tenantId,
      groupId: 'All-Workstations',
      principalsAllowedLaps: ['AMS-Helpdesk', users[4]!.userPrincipalName, group('AMS-Admins').id, users[5]!.id],
      principalsDeniedBitLocker: ['AMS-Helpdesk'],
      ruleExpiryDate: new Date(Date.now() + 86_400_000).toISOString(),
      notes: 'CHG-1234',
    },
  });
  assertMatchesSpec(t, res, 'createComputerAuthorizationRule');
  t.equal(res.statusCode, 201, res.body);
  const rule = res.json();
  t.match(rule, { targetType: 'group', groupId: group('All-Workstations').id, targetDisplayName: 'All-Workstations', active: true, disabled: false, userRequestReasonRequirement: 'Optional', createdBy: 'bootstrap-admin' });
  t.same(rule.principalsAllowedLaps, [
    { id: group('AMS-Helpdesk').id, type: 'group', displayName: 'AMS-Helpdesk' },
    { id: users[4]!.id, type: 'user', displayName: users[4]!.userPrincipalName },
    { id: group('AMS-Admins').id, type: 'group', displayName: 'AMS-Admins' },
    { id: users[5]!.id, type: 'user', displayName: users[5]!.userPrincipalName },
  ]);
  t.equal(res.headers.location, `${RULES}?id=${rule.id}`);

  const listed = await daemon.call({ url: `${RULES}?id=${rule.id}` });
  assertMatchesSpec(t, listed, 'listComputerAuthorizationRules');
  t.same(listed.json().items, [rule]);
  t.same((await daemon.call({ url: `${RULES}?id=${rule.id.toUpperCase()}` })).json().items, [rule], 'the id in any case');
  t.same((await daemon.call({ url: `${RULES}?id=${rule.id}&tenantId=${tenant.tenantId.toUpperCase()}` })).json().items, [rule], 'with its tenant');
  for (const url of [`${RULES}?id=${randomUUID()}`, `${RULES}?id=${rule.id}&tenantId=${randomUUID()}`]) {
    const missing = await daemon.call({ url });
    t.equal(missing.statusCode, 404, `${url}: none with that id (in that tenant)`);
    t.match(missing.json(), { detail: /No computer authorization rule has the id/ });
  }
  const created = (await daemon.call({ url: '/v1/audit-events?type=rule.created' })).json().items[0];
  t.match(created, { eventId: 2101, target: { kind: 'rule', id: rule.id }, after: { id: rule.id, principalsAllowedLaps: rule.principalsAllowedLaps } });
});

t.test('entries that cannot be resolved are a 400 naming each one', async (t) => {
  const { tenant, daemon } = await setUp(t);
  const res = await daemon.call({
    method: 'POST',
    url: RULES,
    body: {
      description: 'Typos',
      tenantId: tenant.tenantId,
      principalsAllowedLaps: ['AMS-Helpdesk', 'AMS-Helpdsk', 'nobody@contoso.example'],
      principalsDeniedLaps: [randomUUID()],
      notificationChannelsSuccess: ['Teams'],
    },
  });
  t.equal(res.statusCode, 400);
  const errors = res.json().errors;
  t.match(errors, [
    { path: 'body/notificationChannelsSuccess/0', message: /no notification channel 'Teams'/ },
  ]);
  t.ok(errors.some((e: { path: string; message: string }) => e.path === 'body/principalsAllowedLaps/1' && /no group is named 'AMS-Helpdsk'/.test(e.message)));
  t.ok(errors.some((e: { path: string; message: string }) => e.path === 'body/principalsAllowedLaps/2' && /no user 'nobody@contoso.example'/.test(e.message)));
  t.ok(errors.some((e: { path: string }) => e.path === 'body/principalsDeniedLaps/0'));

  const checks: [Record<string, unknown>, string, RegExp][] = [
    [{ description: 'x', tenantId: randomUUID() }, 'body/tenantId', /not a configured tenant/],
    [{ description: 'x', tenantId: tenant.tenantId, groupId: 'All-Workstations', deviceId: 'PC-0001' }, 'body/groupId', /not both/],
    [{ description: 'x', tenantId: tenant.tenantId, deviceId: 'PC-9999' }, 'body/deviceId', /No device with the name 'PC-9999'/],
    [{ description: 'x', tenantId: tenant.tenantId, deviceId: tenant.directory.duplicateNames[0] }, 'body/deviceId', /devices match/],
    [{ description: 'x', tenantId: tenant.tenantId, groupId: 'No-Such-Group' }, 'body/groupId', /no group is named/],
    [{ description: 'x', tenantId: tenant.tenantId, ruleExpiryDate: '2020-01-01T00:00:00Z' }, 'body/ruleExpiryDate', /in the past/],
    [{ description: '   ', tenantId: tenant.tenantId }, 'body/description', /more than spaces/],
  ];
  for (const [body, path, message] of checks) {
    const bad = await daemon.call({ method: 'POST', url: RULES, body });
    t.equal(bad.statusCode, 400, path);
    t.match(bad.json().errors, [{ path, message }], path);
  }
  t.equal((await daemon.call({ url: RULES })).json().items.length, 0, 'nothing was created');
});

t.test('Set adds and removes principals, retargets, and changes scalars; Remove ends access', async (t) => {
  const { tenant, daemon, users, devices } = await setUp(t);
  const rule = await createRule(t, daemon, { description: 'Tenant-wide', tenantId: tenant.tenantId, principalsAllowedLaps: ['AMS-Helpdesk', users[6]!.userPrincipalName] });
  const patch = (body: unknown) => daemon.call({ method: 'PATCH', url: `${RULES}/${rule.id}`, body });

  let res = await patch({ addPrincipalsAllowedLaps: ['AMS-Admins', 'AMS-Helpdesk'], removePrincipalsAllowedLaps: [users[6]!.userPrincipalName], addPrincipalsDeniedBitLocker: [users[0]!.id] });
  assertMatchesSpec(t, res, 'updateComputerAuthorizationRule');
  t.same(res.json().principalsAllowedLaps.map((p: { displayName: string }) => p.displayName), ['AMS-Helpdesk', 'AMS-Admins'], 'added once, removed by UPN');
  t.same(res.json().principalsDeniedBitLocker.map((p: { id: string }) => p.id), [users[0]!.id]);

  res = await patch({ deviceId: devices[1]!.deviceId, userRequestReasonRequirement: 'Required', description: 'One device', notes: 'why' });
  t.match(res.json(), { targetType: 'device', deviceId: devices[1]!.deviceId, targetDisplayName: devices[1]!.displayName, userRequestReasonRequirement: 'Required', description: 'One device', modifiedBy: 'bootstrap-admin' });
  res = await patch({ groupId: null, deviceId: null, notes: null });
  t.match(res.json(), { targetType: 'tenant' });
  t.notOk('deviceId' in res.json() || 'notes' in res.json(), 'back to the whole tenant, notes cleared');

  res = await patch({ removePrincipalsAllowedLaps: ['Not-There'] });
  t.equal(res.statusCode, 400);
  t.match(res.json().errors, [{ path: 'body/removePrincipalsAllowedLaps/0', message: /is not in principalsAllowedLaps/ }]);
  res = await patch({ addPrincipalsAllowedLaps: ['AMS-Helpdesk'], removePrincipalsAllowedLaps: ['ams-helpdesk'] });
  t.equal(res.statusCode, 400, 'added and removed at once');
  t.equal((await patch({})).statusCode, 400, 'an empty change');
  t.equal((await daemon.call({ method: 'PATCH', url: `${RULES}/${randomUUID()}`, body: { disabled: true } })).statusCode, 404);

  const updated = (await daemon.call({ url: '/v1/audit-events?type=rule.updated&top=1' })).json().items[0];
  t.match(updated, { eventId: 2103, before: { targetType: 'device' }, after: { targetType: 'tenant' } }, 'the audit trail has the rule before and after');

  const removed = await daemon.call({ method: 'DELETE', url: `${RULES}/${rule.id}` });
  t.equal(removed.statusCode, 204);
  t.equal((await daemon.call({ url: `${RULES}?id=${rule.id}` })).statusCode, 404);
  t.match((await daemon.call({ url: '/v1/audit-events?type=rule.deleted' })).json().items[0], { eventId: 2102, before: { id: rule.id } });
});

t.test('rules are for administrators', async (t) => {
  const { tenant, daemon, users } = await setUp(t);
  const user = await createKey(t, daemon, { name: 'u', role: 'user', tenantId: tenant.tenantId, principalId: users[0]!.id });
  t.equal((await daemon.call({ url: RULES, key: user })).statusCode, 403);
  t.equal((await daemon.call({ method: 'POST', url: RULES, key: user, body: { description: 'x', tenantId: tenant.tenantId } })).statusCode, 403);
  t.equal((await daemon.call({ url: '/v1/audit-events', key: user })).statusCode, 403);
  t.equal((await daemon.call({ url: `/v1/effective-access?user=${users[0]!.id}&computerName=PC-0001`, key: user })).statusCode, 403);
});

t.test('effective access shows each decision and the rules, through which group', async (t) => {
  const { tenant, daemon, group, users, devices } = await setUp(t);
  const allow = await createRule(t, daemon, { description: 'Readers on workstations', tenantId: tenant.tenantId, groupId: 'All-Workstations', principalsAllowedLaps: ['AMS-LAPS-Readers'], principalsAllowedBitLocker: ['AMS-Admins'] });
  const deny = await createRule(t, daemon, { description: 'No BitLocker for helpdesk', tenantId: tenant.tenantId, principalsDeniedBitLocker: ['AMS-Helpdesk'] });
  const res = await daemon.call({ url: `/v1/effective-access?user=${encodeURIComponent(users[0]!.userPrincipalName)}&computerName=${devices[0]!.displayName}` });
  assertMatchesSpec(t, res, 'getEffectiveAccess');
  t.equal(res.statusCode, 200, res.body);
  const body = res.json();
  t.match(body.user, { principalId: users[0]!.id, displayName: users[0]!.userPrincipalName });
  const byType = Object.fromEntries(body.access.map((a: { accessType: string }) => [a.accessType, a]));
  t.match(byType.LocalAdminPassword, { allowed: true, code: 'Success', grantingRuleId: allow.id });
  t.same(
    byType.LocalAdminPassword.rules.find((r: { ruleId: string }) => r.ruleId === allow.id).allowedVia.map((p: { displayName: string }) => p.displayName),
    ['AMS-LAPS-Readers'],
    'allowed through AMS-LAPS-Readers (which holds AMS-Helpdesk, which holds the user)',
  );
  t.match(byType.LocalAdminPasswordHistory, { allowed: false, code: 'NoMatchingRuleForUser' });
  t.match(byType.BitLockerRecoveryKey, { allowed: false, code: 'ExplicitlyDenied' });
  t.same(byType.BitLockerRecoveryKey.rules.find((r: { ruleId: string }) => r.ruleId === deny.id).deniedVia.map((p: { id: string }) => p.id), [group('AMS-Helpdesk').id]);

  const unknown = await daemon.call({ url: `/v1/effective-access?user=ghost@contoso.example&computerName=${devices[0]!.displayName}` });
  t.equal(unknown.statusCode, 400);
  t.match(unknown.json().errors, [{ path: 'query/user' }]);
  t.equal((await daemon.call({ url: `/v1/effective-access?user=${users[0]!.id}` })).statusCode, 400, 'a device is needed');
  t.equal((await daemon.call({ url: '/v1/audit-events?type=secret.read' })).json().items.length, 0, 'effective access reads no secret and is not a secret request');
});

t.test('tenant and API key changes are audited too, without secrets', async (t) => {
  const { tenant, daemon } = await setUp(t);
  await daemon.call({ method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body: { clientSecret: 'a-new-secret-value' } });
  const key = await daemon.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'script', role: 'user' } });
  await daemon.call({ method: 'DELETE', url: `/v1/api-keys/${key.json().id}` });
  const events = (await daemon.call({ url: '/v1/audit-events' })).json().items;
  t.same(events.map((e: { type: string }) => e.type), ['apiKey.revoked', 'apiKey.created', 'tenant.updated', 'tenant.created']);
  const text = JSON.stringify(events);
  t.notMatch(text, 'a-new-secret-value', 'no client secret');
  t.notMatch(text, tenant.app.clientSecret, 'not the first one either');
  t.notMatch(text, key.json().key, 'no API key value');
});
