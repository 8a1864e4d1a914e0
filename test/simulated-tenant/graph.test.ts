/**
 * The simulated Graph through the daemon's own GraphClient and LAPS decoding, over real HTTPS:
 * authentication and permissions, device lookup, LAPS credentials, paging, BitLocker, membership.
 */
import t from 'tap';
import { GraphError } from '../../daemon/directory/graph-client.js';
import { toLapsCredentials, type GraphDeviceLocalCredentialInfo } from '../../daemon/directory/laps.js';
import { parseFilter } from '../../daemon/simulated-tenant/graph.js';
import { tenantFor } from './fixtures/harness.js';

const LAPS_SELECT = '$select=id,deviceName,lastBackupDateTime,refreshDateTime,credentials';

t.test('without a valid token Graph answers 401 in its error shape, with request ids', async (t) => {
  const { tenant, raw } = await tenantFor(t);
  const none = await raw('/v1.0/devices', { token: null, headers: { 'client-request-id': 'my-crid' } });
  t.equal(none.status, 401);
  t.match(none.body, { error: { code: 'InvalidAuthenticationToken', message: 'Access token is empty.', innerError: { 'request-id': String, date: String, 'client-request-id': 'my-crid' } } });
  t.match(none.headers, { 'request-id': none.body.error.innerError['request-id'], 'client-request-id': 'my-crid' });

  const userToken = await tenant.issueUserToken({ oid: tenant.directory.users[0]!.id, audience: 'api://amsd' });
  t.match(await raw('/v1.0/devices', { token: userToken }), { status: 401, body: { error: { message: /Invalid audience/ } } }, 'a token for another audience');
  t.match(await raw('/v1.0/devices', { token: 'not.a.jwt' }), { status: 401 });
});

t.test('a missing permission is 403 Authorization_RequestDenied; ReadBasic reads LAPS metadata only', async (t) => {
  const { tenant, graph, raw } = await tenantFor(t);
  const device = tenant.directory.devices.find((d) => d.laps)!;
  const path = `/v1.0/directory/deviceLocalCredentials/${device.deviceId}?${LAPS_SELECT}`;
  t.ok(await graph().call(path), 'readable with the default permissions');

  tenant.app.permissions.delete('DeviceLocalCredential.Read.All');
  const error = await graph().call(path, { permission: 'DeviceLocalCredential.Read.All' }).catch((e: unknown) => e);
  t.type(error, GraphError);
  t.match(error, { kind: 'forbidden', details: { status: 403, code: 'Authorization_RequestDenied', permission: 'DeviceLocalCredential.Read.All' } });

  tenant.app.permissions.add('DeviceLocalCredential.ReadBasic.All');
  const metadata = await raw(`/v1.0/directory/deviceLocalCredentials/${device.deviceId}`);
  t.equal(metadata.status, 200);
  t.equal(metadata.body.deviceName, device.displayName);
  t.equal((await raw(path)).status, 403, 'credentials still need Read.All');

  tenant.app.permissions.delete('Device.Read.All');
  t.match(await raw('/v1.0/devices'), { status: 403, body: { error: { code: 'Authorization_RequestDenied' } } });
  tenant.app.permissions.add('Directory.Read.All');
  t.equal((await raw('/v1.0/devices')).status, 200, 'Directory.Read.All implies Device.Read.All');
});

t.test('devices by name: duplicated names return every device; by deviceId; quotes are doubled', async (t) => {
  const { tenant, graph, raw } = await tenantFor(t);
  const name = tenant.directory.duplicateNames[0]!;
  t.ok(name, 'the seeded directory has a duplicated name');
  const found = await graph().all<{ id: string; deviceId: string; displayName: string }>(`/v1.0/devices?$filter=displayName eq '${name}'&$select=id,deviceId,displayName`);
  t.equal(found.length, 2);
  t.same(found.map((d) => Object.keys(d).sort()), [['deviceId', 'displayName', 'id'], ['deviceId', 'displayName', 'id']], '$select is honoured');
  t.not(found[0]!.deviceId, found[1]!.deviceId);

  const target = tenant.directory.devices[3]!;
  const byId = await graph().all<{ id: string }>(`/v1.0/devices?$filter=deviceId eq '${target.deviceId}'`);
  t.same(byId.map((d) => d.id), [target.id]);
  t.equal((await graph().call<{ id: string }>(`/v1.0/devices(deviceId='${target.deviceId}')`)).id, target.id, 'alternate key');
  t.same(await graph().all(`/v1.0/devices?$filter=${encodeURIComponent("displayName eq 'O''Brien''s PC'")}`), []);
  t.match(await raw(`/v1.0/devices?$filter=${encodeURIComponent('displayName ne 1')}`), { status: 400, body: { error: { code: 'Request_UnsupportedQuery' } } });

  const filter = parseFilter("displayName eq 'O''Brien' and accountEnabled eq true");
  t.type(filter, 'function');
  if (typeof filter === 'function') {
    t.ok(filter({ displayName: "o'brien", accountEnabled: true }), 'case-insensitive, quote undoubled');
    t.notOk(filter({ displayName: "O'Brien", accountEnabled: false }));
  }
});

t.test('deviceLocalCredentials: top-level object, credentials only when selected, 404 without a backup', async (t) => {
  const { tenant, graph } = await tenantFor(t);
  const device = tenant.directory.devices.find((d) => d.laps)!;
  const plain = await graph().call<GraphDeviceLocalCredentialInfo>(`/v1.0/directory/deviceLocalCredentials/${device.deviceId}`);
  t.match(plain, { id: device.deviceId, deviceName: device.displayName, lastBackupDateTime: String, refreshDateTime: String });
  t.notOk('credentials' in plain, 'no passwords without $select=credentials');
  t.notOk('value' in plain, 'not wrapped');
  const selected = await graph().call<GraphDeviceLocalCredentialInfo>(`/v1.0/directory/deviceLocalCredentials/${device.deviceId}?${LAPS_SELECT}`);
  t.equal(selected.credentials?.length, device.laps!.expected.length);

  const bare = tenant.directory.devices.find((d) => !d.laps)!;
  const missing = await graph().call(`/v1.0/directory/deviceLocalCredentials/${bare.deviceId}?${LAPS_SELECT}`).catch((e: unknown) => e);
  t.match(missing, { kind: 'notFound', details: { status: 404 } });

  const list = await graph().all<Record<string, unknown>>('/v1.0/directory/deviceLocalCredentials?$select=id,deviceName,credentials');
  t.equal(list.length, tenant.directory.devices.filter((d) => d.laps).length);
  t.notOk(list.some((item) => 'credentials' in item), 'the list never carries passwords');
});

t.test('toLapsCredentials decodes the seeded passwords: both encodings, any order, another account', async (t) => {
  const { tenant, graph } = await tenantFor(t);
  const withLaps = tenant.directory.devices.filter((d) => d.laps);
  const cases = {
    utf8: withLaps.find((d) => d.laps!.expected[0]!.encoding === 'utf8')!,
    utf16le: withLaps.find((d) => d.laps!.expected[0]!.encoding === 'utf16le')!,
    notNewestFirst: withLaps.find((d) => d.laps!.credentials[0]!.backupDateTime !== d.laps!.expected[0]!.backupDateTime)!,
    otherAccount: withLaps.find((d) => d.laps!.expected.some((p) => p.account !== 'LapsAdmin'))!,
  };
  for (const [label, device] of Object.entries(cases)) {
    t.ok(device, `the directory has a ${label} case`);
    const info = await graph().call<GraphDeviceLocalCredentialInfo>(`/v1.0/directory/deviceLocalCredentials/${device.deviceId}?${LAPS_SELECT}`);
    const decoded = toLapsCredentials(info);
    t.same(
      decoded.map((c) => [c.account, c.password, c.passwordUpdateTime]),
      device.laps!.expected.map((p) => [p.account, p.password, new Date(p.backupDateTime).toISOString()]),
      label,
    );
    t.equal(decoded[0]!.passwordExpirationTime, new Date(device.laps!.refreshDateTime).toISOString());
  }
});

t.test('paging follows @odata.nextLink as a whole URL', async (t) => {
  const { tenant, graph, raw } = await tenantFor(t, { devices: 23 });
  const first = await raw('/v1.0/devices?$top=5&$select=displayName');
  t.match(first.body['@odata.nextLink'], new RegExp(`^${tenant.graphEndpoint}/v1.0/devices\\?`));
  t.equal(first.body.value.length, 5);
  const all = await graph().all<{ id: string }>('/v1.0/devices?$top=5');
  t.same(all.map((d) => d.id), tenant.directory.devices.map((d) => d.id));
  t.equal(tenant.callCount('/v1.0/devices'), 1 + 5, 'one raw call, then five pages');
  t.match(await raw('/v1.0/devices?$top=1000'), { status: 400 });
});

t.test('checkMemberGroups and getMemberGroups resolve nested groups transitively', async (t) => {
  const { tenant, graph, raw } = await tenantFor(t);
  const group = (name: string) => tenant.directory.groups.find((g) => g.displayName === name)!.id;
  const device = tenant.directory.devices[0]!; // in Workstations-Site-A, itself in All-Workstations
  const ids = [group('All-Workstations'), group('Workstations-Site-B'), group('AMS-Admins')];
  for (const kind of ['devices', 'directoryObjects']) {
    const answer = await graph().call<{ value: string[] }>(`/v1.0/${kind}/${device.id}/checkMemberGroups`, { method: 'POST', body: { groupIds: ids } });
    t.same(answer.value, [group('All-Workstations')], kind);
  }
  const helpdeskUser = tenant.directory.users[0]!; // AMS-Helpdesk ⊂ AMS-LAPS-Readers ⊂ AMS-Admins
  const byUpn = await graph().call<{ value: string[] }>(`/v1.0/users/${helpdeskUser.userPrincipalName}/checkMemberGroups`, { method: 'POST', body: { groupIds: ids } });
  t.same(byUpn.value, [group('AMS-Admins')]);
  const all = await graph().call<{ value: string[] }>(`/v1.0/users/${helpdeskUser.id}/getMemberGroups`, { method: 'POST', body: { securityEnabledOnly: true } });
  t.same(all.value.sort(), [group('AMS-Helpdesk'), group('AMS-LAPS-Readers'), group('AMS-Admins')].sort());
  const withLists = await graph().call<{ value: string[] }>(`/v1.0/users/${helpdeskUser.id}/getMemberGroups`, { method: 'POST', body: { securityEnabledOnly: false } });
  t.ok(withLists.value.includes(group('All-Staff')), 'distribution lists only when not security-only');

  const tooMany = await raw(`/v1.0/devices/${device.id}/checkMemberGroups`, { method: 'POST', body: { groupIds: Array.from({ length: 21 }, (_, i) => `g${i}`) } });
  t.match(tooMany, { status: 400, body: { error: { code: 'Request_BadRequest' } } });
  t.match(await raw(`/v1.0/devices/00000000-0000-4000-8000-000000000000/checkMemberGroups`, { method: 'POST', body: { groupIds: ids } }), { status: 404 });
});

t.test('BitLocker: the list has no key, a read with $select=key has it; volumeType comes in both forms', async (t) => {
  const { tenant, graph, raw } = await tenantFor(t);
  const keys = tenant.directory.devices.flatMap((d) => d.bitlockerKeys);
  t.ok(keys.some((k) => typeof k.volumeType === 'number') && keys.some((k) => typeof k.volumeType === 'string'));
  const device = tenant.directory.devices.find((d) => d.bitlockerKeys.length > 1)!;
  const listed = await graph().all<Record<string, unknown>>(`/v1.0/informationProtection/bitlocker/recoveryKeys?$filter=deviceId eq '${device.deviceId}'`);
  t.same(listed.map((k) => k.id), device.bitlockerKeys.map((k) => k.id));
  t.notOk(listed.some((k) => 'key' in k));
  const read = await graph().call<{ key: string }>(`/v1.0/informationProtection/bitlocker/recoveryKeys/${device.bitlockerKeys[0]!.id}?$select=key`);
  t.equal(read.key, device.bitlockerKeys[0]!.key);
  t.match(read.key, /^(\d{6}-){7}\d{6}$/);
  t.equal((await graph().all('/v1.0/informationProtection/bitlocker/recoveryKeys')).length, keys.length, 'pages through every key');
  t.equal((await raw('/v1.0/informationProtection/bitlocker/recoveryKeys?$top=5')).status, 400, 'no $top');
  tenant.app.permissions.delete('BitlockerKey.Read.All');
  t.match(await raw(`/v1.0/informationProtection/bitlocker/recoveryKeys/${device.bitlockerKeys[0]!.id}?$select=key`), { status: 403 });
});

t.test('users by id or UPN, groups by name', async (t) => {
  const { tenant, graph } = await tenantFor(t);
  const user = tenant.directory.users[2]!;
  t.equal((await graph().call<{ id: string }>(`/v1.0/users/${encodeURIComponent(user.userPrincipalName.toUpperCase())}`)).id, user.id);
  t.equal((await graph().call<{ userPrincipalName: string }>(`/v1.0/users/${user.id}?$select=userPrincipalName`)).userPrincipalName, user.userPrincipalName);
  const groups = await graph().all<{ id: string }>(`/v1.0/groups?$filter=displayName eq 'AMS-Helpdesk'`);
  t.same(groups.map((g) => g.id), [tenant.directory.groups.find((g) => g.displayName === 'AMS-Helpdesk')!.id]);
  t.match(await graph().call('/v1.0/users/nobody@contoso.example').catch((e: unknown) => e), { kind: 'notFound' });
});

t.test('past its limit getMemberGroups answers 400 Directory_ResultSizeLimitExceeded; the transitiveMemberOf cast pages the groups', async (t) => {
  // https://learn.microsoft.com/graph/api/user-getmembergroups and .../user-list-transitivememberof
  const { tenant, raw, graph } = await tenantFor(t);
  const user = tenant.directory.users[0]!;
  const all = (await raw(`/v1.0/users/${user.id}/getMemberGroups`, { method: 'POST', body: { securityEnabledOnly: false } })).body.value as string[];
  t.ok(all.length > 1);
  tenant.limits.getMemberGroups = all.length - 1;
  const refused = await raw(`/v1.0/users/${user.id}/getMemberGroups`, { method: 'POST', body: { securityEnabledOnly: false } });
  t.match(refused, { status: 400, body: { error: { code: 'Directory_ResultSizeLimitExceeded' } } });

  const cast = `/v1.0/users/${user.id}/transitiveMemberOf/microsoft.graph.group?$select=id&$top=1&$count=true`;
  t.match(await raw(cast), { status: 400, body: { error: { code: 'Request_UnsupportedQuery' } } }, 'a cast without ConsistencyLevel: eventual is refused');
  const groups = await graph().all<{ id: string }>(cast, { headers: { consistencylevel: 'eventual' } });
  t.same(groups.map((g) => g.id).sort(), [...all].sort(), 'the same groups, a page at a time');
  t.same(Object.keys(groups[0]!), ['id'], '$select=id');

  const device = tenant.directory.devices[0]!;
  const deviceGroups = await graph().all<{ id: string }>(`/v1.0/devices/${device.id}/transitiveMemberOf/microsoft.graph.group?$select=id&$count=true`, { headers: { consistencylevel: 'eventual' } });
  t.ok(deviceGroups.length > 0, 'devices too');
});

t.test('revoked app tokens are refused with 401 InvalidAuthenticationToken, with a claims challenge on demand; new ones work', async (t) => {
  const { tenant, raw, getToken } = await tenantFor(t);
  const token = await getToken();
  t.equal((await raw('/v1.0/devices?$top=1', { token })).status, 200);
  tenant.revokeAppTokens();
  const revoked = await raw('/v1.0/devices?$top=1', { token });
  t.match(revoked, { status: 401, body: { error: { code: 'InvalidAuthenticationToken' } } });
  t.notMatch(String(revoked.headers['www-authenticate']), /claims=/);
  t.equal((await raw('/v1.0/devices?$top=1')).status, 200, 'a token issued after the revocation is accepted');

  const second = await getToken();
  tenant.revokeAppTokens({ claimsChallenge: true });
  const challenged = await raw('/v1.0/devices?$top=1', { token: second });
  t.equal(challenged.status, 401);
  const claims = /claims="([^"]+)"/.exec(String(challenged.headers['www-authenticate']))?.[1];
  t.match(String(challenged.headers['www-authenticate']), /error="insufficient_claims"/);
  t.match(JSON.parse(Buffer.from(claims ?? '', 'base64').toString()), { access_token: { nbf: { essential: true } } });
});

t.test("the rejectToken fault: Graph's 401 InvalidAuthenticationToken, the token endpoint's 401 invalid_client", async (t) => {
  const { tenant, raw, tokenRequest, secretForm } = await tenantFor(t);
  tenant.faults.inject('/v1.0/devices', { kind: 'rejectToken' });
  t.match(await raw('/v1.0/devices?$top=1'), { status: 401, body: { error: { code: 'InvalidAuthenticationToken' } } });
  tenant.faults.inject(`/${tenant.tenantId}/oauth2`, { kind: 'rejectToken' });
  t.match(await tokenRequest(secretForm()), { status: 401, body: { error: 'invalid_client', error_codes: [7000215] } });
  t.equal((await tokenRequest(secretForm())).status, 200, 'once');
});
