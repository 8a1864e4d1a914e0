/**
 * Secret reads as users meet them, against the simulated tenant over TLS: the rules decide (through
 * nested groups, denies across rules, disabled and expired rules, each target kind), every outcome is
 * on the audit trail, a secret is returned only once its event is on disk, and Graph is asked for a
 * secret only when the rules allow it.
 */
import type { FileHandle } from 'node:fs/promises';
import t from 'tap';
import { assertMatchesSpec, createKey, createRule, registerTenant, simulatedTenantFor, startTestDaemon, type TestContext, type TestDaemon } from '../helpers.js';

const LAPS = '/v1/secrets/local-admin-password';
const HISTORY = '/v1/secrets/local-admin-password-history';
const BITLOCKER = '/v1/secrets/bitlocker-recovery-keys';
const OPERATION: Record<string, string> = { [LAPS]: 'getLocalAdminPassword', [HISTORY]: 'getLocalAdminPasswordHistory', [BITLOCKER]: 'getFveRecoveryKey' };

async function setUp(t: TestContext, daemonOptions: Parameters<typeof startTestDaemon>[2] = {}) {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 30 });
  const daemon = await startTestDaemon(t, undefined, { caFile, ...daemonOptions });
  await registerTenant(t, daemon, tenant);
  const { users, devices } = tenant.directory;
  const keyFor = (name: string, user: { id: string }) => createKey(t, daemon, { name, role: 'user', tenantId: tenant.tenantId, principalId: user.id });
  // users[0] is in AMS-Helpdesk ⊂ AMS-LAPS-Readers ⊂ AMS-Admins; users[6] in AMS-LAPS-Readers only; users[10] in no security group.
  const helpdesk = await keyFor('helpdesk', users[0]!);
  const reader = await keyFor('reader', users[6]!);
  const outsider = await keyFor('outsider', users[10]!);
  const read = async (path: string, key: string, body: Record<string, unknown>, extra: { headers?: Record<string, string>; remoteAddress?: string } = {}) => {
    const res = await daemon.call({ method: 'POST', url: path, key, body, ...extra });
    assertMatchesSpec(t, res, OPERATION[path]!);
    return res;
  };
  const lastEvent = async () => (await daemon.call({ url: '/v1/audit-events?type=secret.read&top=1' })).json().items[0];
  return { tenant, daemon, users, devices, helpdesk, reader, outsider, read, lastEvent };
}

/** PC-0001 (devices[0]) is in Workstations-Site-A ⊂ All-Workstations and has a LAPS password and two BitLocker keys. */
async function workstationRule(t: TestContext, daemon: TestDaemon, tenantId: string, extra: Record<string, unknown> = {}) {
  return createRule(t, daemon, { description: 'Readers: workstation passwords', tenantId, groupId: 'All-Workstations', principalsAllowedLaps: ['AMS-LAPS-Readers'], ...extra });
}

t.test('a rule lets a nested group read a workstation password; the read is audited before the answer', async (t) => {
  const { tenant, daemon, devices, helpdesk, read, lastEvent } = await setUp(t);
  const rule = await workstationRule(t, daemon, tenant.tenantId);
  const device = devices[0]!;
  tenant.resetCalls();

  const res = await read(LAPS, helpdesk, { computerName: device.displayName, reason: 'ticket 4711' });
  t.equal(res.statusCode, 200, res.body);
  const current = device.laps!.expected[0]!;
  t.match(res.json(), { deviceName: device.displayName, deviceId: device.deviceId, tenantId: tenant.tenantId, account: current.account, password: current.password });
  t.equal(res.headers['cache-control'], 'no-store');
  t.equal(tenant.callCount('/v1.0/directory/deviceLocalCredentials'), 1, 'one Graph read of the secret');

  const event = await lastEvent();
  t.match(event, {
    type: 'secret.read',
    eventId: 3001,
    accessType: 'LocalAdminPassword',
    reason: 'ticket 4711',
    actor: { kind: 'apiKey', displayName: 'helpdesk', principalId: tenant.directory.users[0]!.id },
    device: { deviceName: device.displayName, deviceId: device.deviceId },
    outcome: { success: true, code: 'Success', ruleIds: [rule.id] },
  });
  t.notMatch(JSON.stringify(event), current.password, 'the audit event does not hold the password');
  t.notOk(daemon.logLines.some((line) => line.includes(current.password)), 'nor does the log');
});

t.test('refusals are 403s with their code, audited, and never reach Graph for the secret', async (t) => {
  const { tenant, daemon, devices, helpdesk, outsider, read, lastEvent } = await setUp(t);
  await workstationRule(t, daemon, tenant.tenantId);
  tenant.resetCalls();

  const cases: [string, string, Record<string, unknown>, string, number][] = [
    ['an outsider', outsider, { computerName: devices[0]!.displayName }, 'NoMatchingRuleForUser', 4012],
    ['another access type than the rule grants', helpdesk, { computerName: devices[0]!.displayName }, 'NoMatchingRuleForUser', 4012],
    // devices[9] is in no workstation group.
    ['a device no rule targets', helpdesk, { deviceId: devices[9]!.deviceId }, 'NoMatchingRuleForComputer', 4013],
    ['the bootstrap admin key, which acts as no user', daemon.adminKey, { computerName: devices[0]!.displayName }, 'NoMatchingRuleForUser', 4012],
  ];
  for (const [what, key, body, code, eventId] of cases) {
    const path = what.startsWith('another') ? HISTORY : LAPS;
    const res = await read(path, key, body);
    t.equal(res.statusCode, 403, what);
    t.match(res.json(), { code, detail: /rule/ }, what);
    t.match(await lastEvent(), { eventId, outcome: { success: false, code } }, `${what}: audited`);
  }
  t.equal(tenant.callCount('/v1.0/directory/deviceLocalCredentials'), 0, 'no refused request read a password from Graph');
});

t.test('a key acting as no user is told so, and how to give it one, not to ask an administrator', async (t) => {
  const { tenant, daemon, devices, read, lastEvent } = await setUp(t);
  await workstationRule(t, daemon, tenant.tenantId);
  const res = await read(LAPS, daemon.adminKey, { computerName: devices[0]!.displayName });
  t.equal(res.statusCode, 403);
  t.equal(res.json().code, 'NoMatchingRuleForUser', 'the result code stays the one Access Manager uses');
  t.match(res.json().detail, /^The API key 'bootstrap-admin' acts as no user, .*no rule can let it read the local administrator password of PC-0001.*createApiKey \(POST \/v1\/api-keys\) with that user's tenantId and principalId/);
  t.notMatch(res.json().detail, /Ask an administrator/);
  t.match(await lastEvent(), { eventId: 4012, outcome: { code: 'NoMatchingRuleForUser' } });
});

t.test('any deny wins, across rules and through groups', async (t) => {
  const { tenant, daemon, users, devices, helpdesk, reader, read, lastEvent } = await setUp(t);
  await workstationRule(t, daemon, tenant.tenantId);
  const device = devices[0]!;
  await createRule(t, daemon, { description: 'PC-0001 for user01', tenantId: tenant.tenantId, deviceId: device.deviceId, principalsAllowedLaps: [users[0]!.userPrincipalName] });
  const deny = await createRule(t, daemon, { description: 'No helpdesk anywhere', tenantId: tenant.tenantId, principalsDeniedLaps: ['AMS-Helpdesk'] });

  const denied = await read(LAPS, helpdesk, { computerName: device.displayName });
  t.equal(denied.statusCode, 403, 'a tenant-wide deny through a group beats a device rule that names the user');
  t.equal(denied.json().code, 'ExplicitlyDenied');
  t.match(await lastEvent(), { eventId: 4015, outcome: { ruleIds: [deny.id] } });

  t.equal((await read(LAPS, reader, { computerName: device.displayName })).statusCode, 200, 'a reader outside AMS-Helpdesk is still allowed');
});

t.test('disabled and expired rules do not apply; the most specific granting rule sets the reason requirement', async (t) => {
  const { tenant, daemon, devices, helpdesk, read, lastEvent } = await setUp(t);
  const device = devices[0]!;
  const broad = await workstationRule(t, daemon, tenant.tenantId, { userRequestReasonRequirement: 'Optional' });
  const narrow = await createRule(t, daemon, {
    description: 'PC-0001 needs a reason',
    tenantId: tenant.tenantId,
    deviceId: device.displayName,
    principalsAllowedLaps: ['AMS-Helpdesk'],
    userRequestReasonRequirement: 'Required',
  });
  t.equal(narrow.deviceId, device.deviceId, 'a device target given by name is stored by id');

  const noReason = await read(LAPS, helpdesk, { computerName: device.displayName });
  t.equal(noReason.statusCode, 400);
  t.match(noReason.json(), { code: 'ReasonRequired', errors: [{ path: 'body/reason' }] });
  t.match(await lastEvent(), { eventId: 4035, outcome: { code: 'ReasonRequired', ruleIds: [narrow.id] } });
  t.equal((await read(LAPS, helpdesk, { computerName: device.displayName, reason: 'INC-1' })).statusCode, 200);

  await daemon.call({ method: 'PATCH', url: `/v1/computer-authorization-rules/${narrow.id}`, body: { disabled: true } });
  t.equal((await read(LAPS, helpdesk, { computerName: device.displayName })).statusCode, 200, 'with the device rule disabled, the group rule grants without a reason');
  t.match(await lastEvent(), { outcome: { ruleIds: [broad.id] } });

  await daemon.store.mutate((draft) => draft.put('rules', { ...draft.get('rules', broad.id)!, ruleExpiryDate: new Date(Date.now() - 1000).toISOString() }));
  const expired = await read(LAPS, helpdesk, { computerName: device.displayName });
  t.equal(expired.json().code, 'NoMatchingRuleForComputer', 'an expired rule applies to nothing');
  const listed = (await daemon.call({ url: `/v1/computer-authorization-rules?id=${broad.id}` })).json().items[0];
  t.equal(listed.active, false, 'and is listed as not active');
});

t.test('history and BitLocker keys are their own access types', async (t) => {
  const { tenant, daemon, devices, helpdesk, read, lastEvent } = await setUp(t);
  const device = devices[0]!;
  await createRule(t, daemon, {
    description: 'Everything on PC-0001',
    tenantId: tenant.tenantId,
    deviceId: device.deviceId,
    principalsAllowedLapsHistory: ['AMS-Helpdesk'],
    principalsAllowedBitLocker: ['AMS-Helpdesk'],
  });
  const history = await read(HISTORY, helpdesk, { deviceId: device.deviceId });
  t.equal(history.statusCode, 200);
  t.same(
    history.json().items.map((p: { password: string; account: string }) => [p.account, p.password]),
    device.laps!.expected.slice(1).map((p) => [p.account, p.password]),
    'the previous passwords, newest first, without the current one',
  );
  t.match(await lastEvent(), { eventId: 3002 });

  const keys = await read(BITLOCKER, helpdesk, { deviceId: device.deviceId });
  t.equal(keys.statusCode, 200);
  t.same(keys.json().items.map((k: { key: string }) => k.key).sort(), device.bitlockerKeys.map((k) => k.key).sort());
  t.match(await lastEvent(), { eventId: 3004 });

  t.equal((await read(LAPS, helpdesk, { deviceId: device.deviceId })).json().code, 'NoMatchingRuleForUser', 'neither grants the current password');
});

t.test('devices that cannot be read say why, and are audited with what was asked', async (t) => {
  const { tenant, daemon, devices, helpdesk, read, lastEvent } = await setUp(t);
  await createRule(t, daemon, { description: 'All devices', tenantId: tenant.tenantId, principalsAllowedLaps: ['AMS-Helpdesk'] });

  const noLaps = await read(LAPS, helpdesk, { deviceId: devices[4]!.deviceId });
  t.equal(noLaps.statusCode, 404);
  t.equal(noLaps.json().code, 'NoLapsPassword');
  t.match(await lastEvent(), { eventId: 4033 });

  const missing = await read(LAPS, helpdesk, { computerName: 'NO-SUCH-PC' });
  t.equal(missing.statusCode, 404);
  t.equal(missing.json().code, 'DeviceNotFound');
  t.match(await lastEvent(), { eventId: 4031, device: { query: 'NO-SUCH-PC' } });

  const shared = tenant.directory.duplicateNames[0]!;
  const ambiguous = await read(LAPS, helpdesk, { computerName: shared });
  t.equal(ambiguous.statusCode, 409);
  t.equal(ambiguous.json().code, 'AmbiguousDevice');
  t.equal(ambiguous.json().candidates.length, 2);
  t.match(await lastEvent(), { eventId: 4032, device: { query: shared } });

  t.equal((await read(LAPS, helpdesk, { computerName: 'x', deviceId: devices[0]!.deviceId })).statusCode, 400, 'a name and an id at once');
  t.equal((await read(LAPS, helpdesk, {})).statusCode, 400, 'neither');
});

t.test('with no tenant configured a read is refused as a device lookup is: 409 no-tenant', async (t) => {
  const daemon = await startTestDaemon(t);
  const lookup = await daemon.call({ url: '/v1/devices?name=PC-0001' });
  const res = await daemon.call({ method: 'POST', url: LAPS, body: { computerName: 'PC-0001' } });
  assertMatchesSpec(t, res, 'getLocalAdminPassword');
  t.equal(lookup.statusCode, 409);
  t.equal(lookup.json().type, 'urn:amsd:problem:no-tenant');
  t.match(res.json(), { status: lookup.statusCode, type: lookup.json().type, detail: lookup.json().detail, code: 'DeviceNotFound' }, 'the same problem as GET /v1/devices');
  const event = (await daemon.call({ url: '/v1/audit-events?type=secret.read&top=1' })).json().items[0];
  t.match(event, { eventId: 4031, device: { query: 'PC-0001' }, outcome: { code: 'DeviceNotFound', message: /^No enabled tenant is configured/ } }, 'the audit says why');
});

t.test('a read in a tenant that is not configured, or disabled, is refused as the device lookup is, never as a device not found', async (t) => {
  const { tenant, daemon, devices, helpdesk, read, lastEvent } = await setUp(t);
  await workstationRule(t, daemon, tenant.tenantId);
  const name = devices[0]!.displayName;
  const sameAsLookup = async (tenantId: string, status: number, type: string) => {
    const lookup = await daemon.call({ url: `/v1/devices?name=${name}&tenantId=${tenantId}` });
    t.match(lookup.json(), { status, type: `urn:amsd:problem:${type}` }, `GET /v1/devices: ${type}`);
    const res = await read(LAPS, helpdesk, { computerName: name, tenantId });
    t.match(res.json(), { status, type: lookup.json().type, detail: lookup.json().detail, code: 'DeviceNotFound' }, `the read: ${type}, with the lookup's detail`);
    t.match(await lastEvent(), { eventId: 4031, device: { query: name }, outcome: { code: 'DeviceNotFound', message: lookup.json().detail } }, `${type}: audited with the reason`);
  };
  await sameAsLookup('11111111-2222-4333-8444-555555555555', 404, 'tenant-not-found');
  t.equal((await daemon.call({ method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body: { enabled: false } })).statusCode, 200);
  await sameAsLookup(tenant.tenantId, 409, 'tenant-disabled');
});

t.test('when the audit trail cannot be written, no secret is returned', async (t) => {
  let failing = false;
  const { tenant, daemon, devices, helpdesk, read } = await setUp(t, {
    testing: {
      auditIo: {
        sync: async (handle: FileHandle) => {
          if (failing) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
          await handle.datasync();
        },
      },
    },
  });
  await workstationRule(t, daemon, tenant.tenantId);
  const device = devices[0]!;
  failing = true;
  const res = await read(LAPS, helpdesk, { computerName: device.displayName });
  t.equal(res.statusCode, 503);
  t.match(res.json(), { code: 'AuditUnavailable', detail: /audit trail cannot be written/ });
  t.ok(res.headers['retry-after']);
  t.notMatch(res.body, device.laps!.expected[0]!.password, 'the password is not in the answer');

  const change = await daemon.call({ method: 'POST', url: '/v1/computer-authorization-rules', body: { description: 'x', tenantId: tenant.tenantId } });
  t.equal(change.statusCode, 503, 'a change that cannot be audited is not made either');
  failing = false;
  t.equal((await daemon.call({ url: '/v1/computer-authorization-rules' })).json().items.length, 1, 'the rule was not created');
  t.equal((await read(LAPS, helpdesk, { computerName: device.displayName })).statusCode, 200, 'once the disk works again, so do reads');
});

t.test('reads are rate limited per user and per client address', async (t) => {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 30 });
  const daemon = await startTestDaemon(t, undefined, { caFile });
  await registerTenant(t, daemon, tenant);
  const settings = await daemon.call({
    method: 'PATCH',
    url: '/v1/service-config',
    body: { userRateLimitPerMinute: 2, ipRateLimitPerMinute: 3, trustedProxies: ['127.0.0.1'] },
  });
  t.equal(settings.statusCode, 200, 'limits set through the API take effect without a restart');
  const { users, devices } = tenant.directory;
  const one = await createKey(t, daemon, { name: 'one', role: 'user', tenantId: tenant.tenantId, principalId: users[0]!.id });
  const two = await createKey(t, daemon, { name: 'two', role: 'user', tenantId: tenant.tenantId, principalId: users[1]!.id });
  await createRule(t, daemon, { description: 'All devices', tenantId: tenant.tenantId, principalsAllowedLaps: ['AMS-Helpdesk'] });
  const read = (key: string, from: string) =>
    daemon.call({ method: 'POST', url: LAPS, key, body: { deviceId: devices[0]!.deviceId }, headers: { 'x-forwarded-for': from } });

  t.equal((await read(one, '203.0.113.7')).statusCode, 200);
  t.equal((await read(one, '203.0.113.7')).statusCode, 200);
  const third = await read(one, '198.51.100.1');
  t.equal(third.statusCode, 429, 'the user has used their two reads this minute, from whatever address');
  t.equal(third.json().code, 'UserRateLimitExceeded');
  t.ok(Number(third.headers['retry-after']) > 0 && Number(third.headers['retry-after']) <= 60, 'Retry-After within the minute');
  const events = (await daemon.call({ url: '/v1/audit-events?type=secret.read&top=3' })).json().items;
  t.match(events[0], { eventId: 4018, ip: '198.51.100.1' }, 'audited, with the client address from the trusted proxy');
  t.match(events[1], { ip: '203.0.113.7' });

  t.equal((await read(two, '203.0.113.7')).statusCode, 200, "another user from the same address: the address's third read");
  t.equal((await read(two, '203.0.113.7')).statusCode, 429, 'the address has used its three reads; the user has one left');
  t.equal((await daemon.call({ url: '/v1/audit-events?top=1' })).json().items[0].outcome.code, 'IpRateLimitExceeded');

  const untrusted = await daemon.call({ method: 'POST', url: LAPS, key: two, body: { deviceId: devices[0]!.deviceId }, headers: { 'x-forwarded-for': '192.0.2.1' }, remoteAddress: '10.9.9.9' });
  t.equal(untrusted.statusCode, 200, 'a peer that is not a trusted proxy is its own address, whatever X-Forwarded-For says');
  t.equal((await daemon.call({ url: '/v1/audit-events?top=1' })).json().items[0].ip, '10.9.9.9');
});

t.test('an Entra user reads through the groups in their token', async (t) => {
  const { tenant, daemon, users, devices } = await setUp(t);
  await daemon.call({ method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body: { userSignInAudiences: ['api://amsd-test'], userSignInClientId: '11111111-2222-4333-8444-555555555555' } });
  await workstationRule(t, daemon, tenant.tenantId);
  const readers = tenant.directory.groups.find((g) => g.displayName === 'AMS-LAPS-Readers')!;
  const token = await tenant.issueUserToken({ oid: users[10]!.id, audience: 'api://amsd-test', groups: [readers.id] });
  tenant.resetCalls();
  const res = await daemon.call({ method: 'POST', url: LAPS, key: token, body: { computerName: devices[0]!.displayName } });
  t.equal(res.statusCode, 200, 'the groups claim says the user is a reader (Graph is not asked)');
  t.equal(tenant.callCount('/v1.0/users'), 0);
  const event = (await daemon.call({ url: '/v1/audit-events?top=1' })).json().items[0];
  t.match(event.actor, { kind: 'entra', principalId: users[10]!.id });
});

t.test('the audit trail finds a user by UPN or object id, whether they used a key or signed in', async (t) => {
  const { tenant, daemon, users, devices, helpdesk, read } = await setUp(t);
  await daemon.call({ method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body: { userSignInAudiences: ['api://amsd-test'], userSignInClientId: '11111111-2222-4333-8444-555555555555' } });
  await workstationRule(t, daemon, tenant.tenantId);
  const user = users[0]!; // the helpdesk key acts as this user
  t.equal((await read(LAPS, helpdesk, { computerName: devices[0]!.displayName })).statusCode, 200);
  t.equal((await read(LAPS, helpdesk, { computerName: 'NO-SUCH-PC' })).statusCode, 404);
  const token = await tenant.issueUserToken({ oid: user.id, audience: 'api://amsd-test', preferredUsername: user.userPrincipalName });
  t.equal((await read(LAPS, token, { computerName: devices[0]!.displayName })).statusCode, 200);

  const find = async (who: string) => {
    const res = await daemon.call({ url: `/v1/audit-events?type=secret.read&user=${encodeURIComponent(who)}` });
    assertMatchesSpec(t, res, 'listAuditEvents');
    return res.json().items as { actor: Record<string, string> }[];
  };
  const byUpn = await find(user.userPrincipalName.toUpperCase());
  t.same(byUpn.map((e) => e.actor.kind), ['entra', 'apiKey', 'apiKey'], 'by UPN, in any case: the key reads and the signed-in read');
  t.ok(byUpn.every((e) => e.actor.userPrincipalName === user.userPrincipalName && e.actor.principalId === user.id), 'each event records both');
  t.same(await find(user.id), byUpn, 'by object id, the same events');
  t.same(await find(users[6]!.userPrincipalName), [], "another user's UPN finds none of them");
});
