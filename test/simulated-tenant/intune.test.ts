/**
 * The simulated tenant's Intune routes, raw over HTTPS, as Microsoft documents them: the managed device
 * of an Entra device by azureADDeviceId, permissions checked before anything else, 404 for an unknown
 * managed device, 204 for the action and a new LAPS password once the device has checked in.
 */
import t, { type Test } from 'tap';
import { decodeLapsPassword } from '../../daemon/directory/laps.js';
import { generateDirectory } from '../../daemon/simulated-tenant/directory-data.js';
import { tenantFor, type Harness } from './fixtures/harness.js';

const MANAGED = '/beta/deviceManagement/managedDevices';
const byEntraId = (deviceId: string) => `${MANAGED}?$filter=${encodeURIComponent(`azureADDeviceId eq '${deviceId}'`)}&$select=id,deviceName,azureADDeviceId`;
const rotate = (managedDeviceId: string) => `${MANAGED}/${managedDeviceId}/rotateLocalAdminPassword`;

/** The current password of a device, read back through deviceLocalCredentials as the daemon reads it. */
async function currentPassword(t: Test, raw: Harness['raw'], deviceId: string): Promise<string> {
  const info = await raw(`/v1.0/directory/deviceLocalCredentials/${deviceId}?$select=id,deviceName,lastBackupDateTime,refreshDateTime,credentials`);
  const credentials = info.body.credentials as { backupDateTime: string; passwordBase64: string }[];
  const newest = [...credentials].sort((a, b) => Date.parse(b.backupDateTime) - Date.parse(a.backupDateTime))[0]!;
  t.equal(info.body.lastBackupDateTime, newest.backupDateTime, 'lastBackupDateTime is the newest backup');
  return decodeLapsPassword(newest.passwordBase64);
}

t.test('seeding: most devices managed, some with LAPS not managed, some offline; deterministic', async (t) => {
  const directory = generateDirectory({ devices: 50 });
  t.same(generateDirectory({ devices: 50 }).devices.map((d) => d.intune), directory.devices.map((d) => d.intune), 'the same for the same seed');
  t.not(generateDirectory({ devices: 50, seed: 2 }).devices[0]!.intune!.managedDeviceId, directory.devices[0]!.intune!.managedDeviceId);
  const managed = directory.devices.filter((d) => d.intune);
  t.ok(managed.length > directory.devices.length / 2, 'most devices are managed');
  t.ok(directory.devices.some((d) => d.laps && d.intune?.online), 'a managed, online device with LAPS');
  t.ok(directory.devices.some((d) => d.laps && !d.intune), 'a device with LAPS that Intune does not manage');
  t.ok(directory.devices.some((d) => d.laps && d.intune && !d.intune.online), 'an offline managed device with LAPS');
  t.same(directory.devices.filter((d) => !d.intune).map((d) => directory.devices.indexOf(d) % 8), Array(50 - managed.length).fill(3));
  t.equal(new Set(managed.map((d) => d.intune!.managedDeviceId)).size, managed.length, 'managed device ids are unique');
  t.ok(managed.every((d) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(d.intune!.managedDeviceId)), 'GUIDs');
  t.ok(managed.every((d) => d.intune!.managedDeviceId !== d.id && d.intune!.managedDeviceId !== d.deviceId), 'not an Entra id');
});

t.test('the managed device of an Entra device by azureADDeviceId; not managed is an empty collection', async (t) => {
  const { tenant, raw } = await tenantFor(t);
  const device = tenant.directory.devices.find((d) => d.laps && d.intune)!;
  const found = await raw(byEntraId(device.deviceId.toUpperCase()));
  t.equal(found.status, 200);
  t.match(found.body['@odata.context'], /\/beta\/\$metadata#deviceManagement\/managedDevices\(id,deviceName,azureADDeviceId\)$/);
  t.same(found.body.value, [{ id: device.intune!.managedDeviceId, deviceName: device.displayName, azureADDeviceId: device.deviceId }], 'only the selected properties, matched case-insensitively');
  t.equal(tenant.intune.managedDeviceId(device.deviceId), device.intune!.managedDeviceId);
  t.ok(tenant.intune.isManaged(device.deviceId));

  const unmanaged = tenant.directory.devices.find((d) => d.laps && !d.intune)!;
  t.notOk(tenant.intune.isManaged(unmanaged.deviceId));
  t.same((await raw(byEntraId(unmanaged.deviceId))).body.value, [], 'a device Intune does not manage: 200 with no value');

  const all = await raw(MANAGED);
  t.equal(all.body.value.length, tenant.directory.devices.filter((d) => d.intune).length);
  t.match(all.body.value[0], { id: String, deviceName: String, azureADDeviceId: String, operatingSystem: 'Windows', osVersion: String, lastSyncDateTime: String });
  t.match(await raw(`${MANAGED}/${device.intune!.managedDeviceId}`), { status: 200, body: { id: device.intune!.managedDeviceId, azureADDeviceId: device.deviceId } });
  t.match(await raw(`${MANAGED}/${unmanaged.deviceId}`), { status: 404, body: { error: { code: 'ResourceNotFound' } } });
  t.match(await raw(`${MANAGED}?$filter=${encodeURIComponent('azureADDeviceId ne 1')}`), { status: 400, body: { error: { code: 'BadRequest' } } });
  t.equal(tenant.callCount('/beta/'), 6, 'beta calls are recorded');
  t.ok(tenant.calls.filter((c) => c.path.startsWith('/beta/')).every((c) => c.service === 'graph'), 'as Graph calls');
  t.equal(tenant.callCount(), tenant.calls.filter((c) => c.service === 'graph').length, 'callCount() counts every Graph call, beta included');
});

t.test('reading managed devices needs DeviceManagementManagedDevices.Read.All (or ReadWrite.All), not PrivilegedOperations.All', async (t) => {
  const { tenant, raw } = await tenantFor(t);
  const device = tenant.directory.devices.find((d) => d.intune)!;
  tenant.app.permissions.delete('DeviceManagementManagedDevices.Read.All');
  t.ok(tenant.app.permissions.has('DeviceManagementManagedDevices.PrivilegedOperations.All'));
  const denied = await raw(byEntraId(device.deviceId));
  t.equal(denied.status, 403);
  t.equal(denied.body.error.code, 'Forbidden');
  const inner = JSON.parse(denied.body.error.message);
  t.match(inner, { _version: 3, Message: /^Application is not authorized to perform this operation\. Application must have one of the following scopes: DeviceManagementManagedDevices\.Read\.All, DeviceManagementManagedDevices\.ReadWrite\.All - Operation ID/ });
  t.match(denied.body.error.innerError, { 'request-id': String, date: String });
  tenant.app.permissions.add('DeviceManagementManagedDevices.ReadWrite.All');
  t.equal((await raw(byEntraId(device.deviceId))).status, 200, 'ReadWrite.All reads too');
  t.equal((await raw(byEntraId(device.deviceId), { token: null })).status, 401, 'no token: 401 as for any Graph call');
});

t.test('the action: 403 without PrivilegedOperations.All whatever the id, then 404 for an unknown id, then 204', async (t) => {
  const { tenant, raw } = await tenantFor(t, { rotationDelayMs: 0 });
  const device = tenant.directory.devices.find((d) => d.laps && d.intune?.online)!;
  const unknown = '00000000-0000-0000-0000-000000000000';

  tenant.app.permissions.delete('DeviceManagementManagedDevices.PrivilegedOperations.All');
  for (const id of [device.intune!.managedDeviceId, unknown]) {
    const denied = await raw(rotate(id), { method: 'POST' });
    t.equal(denied.status, 403, `403 for ${id === unknown ? 'an unknown' : 'a managed'} device`);
    t.equal(denied.body.error.code, 'Forbidden');
    t.match(JSON.parse(denied.body.error.message).Message, /Application must have one of the following scopes: DeviceManagementManagedDevices\.PrivilegedOperations\.All - Operation ID .* - Url: https:\/\/\S+\.rotateLocalAdminPassword\?api-version=/);
  }
  tenant.app.permissions.add('DeviceManagementManagedDevices.ReadWrite.All');
  t.equal((await raw(rotate(unknown), { method: 'POST' })).status, 403, 'ReadWrite.All does not allow it either');
  t.equal(tenant.intune.rotations.length, 0, 'nothing was accepted');

  tenant.app.permissions.add('DeviceManagementManagedDevices.PrivilegedOperations.All');
  const missing = await raw(rotate(unknown), { method: 'POST' });
  t.equal(missing.status, 404);
  t.equal(missing.body.error.code, 'ResourceNotFound');
  t.match(JSON.parse(missing.body.error.message), { _version: 3, Message: /^An error has occurred - Operation ID/ });
  t.equal((await raw(rotate(device.deviceId), { method: 'POST' })).status, 404, "an Entra deviceId is not Intune's id");
  t.equal((await raw(rotate(device.intune!.managedDeviceId))).status, 405, 'GET is not the action');

  const accepted = await raw(rotate(device.intune!.managedDeviceId), { method: 'POST' });
  t.equal(accepted.status, 204);
  t.equal(accepted.body, undefined, 'No Content');
  t.match(tenant.intune.rotations, [{ managedDeviceId: device.intune!.managedDeviceId, deviceId: device.deviceId, at: Number }]);
});

t.test('after the delay an online device has a new password, read back through deviceLocalCredentials', async (t) => {
  const { tenant, raw } = await tenantFor(t, { rotationDelayMs: 1000 });
  const device = tenant.directory.devices.find((d) => d.laps && d.intune?.online)!;
  const before = await currentPassword(t, raw, device.deviceId);
  const historyLength = device.laps!.credentials.length;
  const started = Date.now();

  t.equal((await raw(rotate(device.intune!.managedDeviceId), { method: 'POST' })).status, 204);
  t.equal(await currentPassword(t, raw, device.deviceId), before, 'not yet: the device checks in a while after the action');
  t.equal(tenant.intune.rotations[0]!.applied, false);
  tenant.intune.rotationDelayMs = 0; // later actions are carried out at once; this one keeps its delay
  await tenant.intune.rotationsApplied(device.deviceId);
  t.ok(Date.now() - started >= 990, 'carried out after rotationDelayMs');

  const after = await currentPassword(t, raw, device.deviceId);
  t.not(after, before, 'a new password');
  t.equal(after, device.laps!.expected[0]!.password, 'the seeded expectation follows');
  t.match(tenant.intune.rotations[0], { applied: true, appliedAt: Number });
  t.equal(device.laps!.credentials.length, historyLength, 'the history keeps its length');
  t.ok(device.laps!.expected.some((p) => p.password === before), 'the old password is history now');
  t.ok(Date.parse(device.laps!.lastBackupDateTime) >= started, 'backed up now');
  t.ok(Date.parse(device.laps!.refreshDateTime) > Date.now() + 29 * 24 * 3600_000, 'and expires in about 30 days');

  // Two actions before the device checks in (it is offline meanwhile): one new password.
  const reversed = tenant.directory.devices.find((d) => d.laps && d.intune?.online && d.laps.credentials[0]!.backupDateTime !== d.laps.expected[0]!.backupDateTime)!;
  const reversedBefore = await currentPassword(t, raw, reversed.deviceId);
  const passwordsBefore = reversed.laps!.expected.map((p) => p.password);
  tenant.intune.setOnline(reversed.deviceId, false);
  await raw(rotate(reversed.intune!.managedDeviceId), { method: 'POST' });
  await raw(rotate(reversed.intune!.managedDeviceId), { method: 'POST' });
  tenant.intune.setOnline(reversed.deviceId, true);
  await tenant.intune.rotationsApplied(reversed.deviceId);
  const reversedAfter = await currentPassword(t, raw, reversed.deviceId);
  t.not(reversedAfter, reversedBefore);
  t.equal(reversed.laps!.credentials.at(-1)!.backupDateTime, reversed.laps!.expected[0]!.backupDateTime, 'a device serving oldest first keeps doing so');
  t.equal(tenant.intune.rotations.filter((r) => r.deviceId === reversed.deviceId && r.applied).length, 2, 'both actions carried out');
  t.same(reversed.laps!.expected.map((p) => p.password), [reversedAfter, ...passwordsBefore.slice(0, -1)], 'by one new password');
});

t.test('an offline device rotates only once it is set online', async (t) => {
  const { tenant, raw } = await tenantFor(t, { rotationDelayMs: 0 });
  const device = tenant.directory.devices.find((d) => d.laps && d.intune?.online)!;
  tenant.intune.setOnline(device.deviceId, false);
  const before = await currentPassword(t, raw, device.deviceId);
  t.equal((await raw(rotate(device.intune!.managedDeviceId), { method: 'POST' })).status, 204, 'Intune accepts the action for an offline device');
  let applied = false;
  const waiting = tenant.intune.rotationsApplied(device.deviceId).then(() => (applied = true));
  // Another device's rotation, carried out meanwhile, shows time passed for this one too.
  const other = tenant.directory.devices.find((d) => d !== device && d.laps && d.intune?.online)!;
  await raw(rotate(other.intune!.managedDeviceId), { method: 'POST' });
  await tenant.intune.rotationsApplied(other.deviceId);
  t.equal(applied, false, 'still waiting for the device');
  t.equal(await currentPassword(t, raw, device.deviceId), before, 'the password is unchanged while offline');

  tenant.intune.setOnline(device.deviceId, true);
  await waiting;
  t.not(await currentPassword(t, raw, device.deviceId), before, 'rotated once online');
  t.throws(() => tenant.intune.setOnline(tenant.directory.devices.find((d) => !d.intune)!.deviceId, true), /does not manage/);
  const seededOffline = tenant.directory.devices.find((d) => d.intune && !d.intune.online);
  t.ok(seededOffline, 'the seeded directory has an offline device');
});

t.test('faults apply under /beta/: a throttle is 429 with Retry-After, and the action is not taken', async (t) => {
  const { tenant, raw } = await tenantFor(t, { rotationDelayMs: 0 });
  const device = tenant.directory.devices.find((d) => d.intune)!;
  tenant.faults.inject(MANAGED, { kind: 'throttle', retryAfter: 7 });
  const throttled = await raw(rotate(device.intune!.managedDeviceId), { method: 'POST' });
  t.equal(throttled.status, 429);
  t.equal(throttled.headers['retry-after'], '7');
  t.equal(throttled.body.error.code, 'TooManyRequests');
  t.equal(tenant.intune.rotations.length, 0, 'a throttled action is not taken');
  t.match(tenant.calls.at(-1), { path: rotate(device.intune!.managedDeviceId), status: 429, fault: 'throttle', service: 'graph' });
  t.equal((await raw(byEntraId(device.deviceId))).status, 200, 'the fault was used up');
});
