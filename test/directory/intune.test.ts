/**
 * The Intune client (daemon/rotation/intune.ts) against the simulated tenant over HTTPS: the managed
 * device of an Entra device, the rotation action and its failures as a job will see them, the
 * permission probe, and ids refused before any call.
 */
import t from 'tap';
import { GraphError } from '../../daemon/directory/graph-client.js';
import { InvalidGraphSegment } from '../../daemon/directory/graph-path.js';
import { findManagedDevice, INTUNE_READ_PERMISSION, INTUNE_ROTATE_PERMISSION, probeRotatePermission, rotateLocalAdminPassword } from '../../daemon/directory/intune.js';
import { tenantFor } from '../simulated-tenant/fixtures/harness.js';

const BETA = '/beta/';

t.test('findManagedDevice: the managed device of an Entra deviceId, or undefined when Intune manages none', async (t) => {
  const { tenant, graph } = await tenantFor(t);
  const device = tenant.directory.devices.find((d) => d.laps && d.intune)!;
  const expected = { id: device.intune!.managedDeviceId, deviceName: device.displayName, azureADDeviceId: device.deviceId };
  t.same(await findManagedDevice(graph(), device.deviceId), expected);
  t.same(await findManagedDevice(graph(), device.deviceId.toUpperCase()), expected, 'a GUID in capitals is the same device');
  const unmanaged = tenant.directory.devices.find((d) => d.laps && !d.intune)!;
  t.equal(await findManagedDevice(graph(), unmanaged.deviceId), undefined);
  t.equal(await findManagedDevice(graph(), '5c1f3a2e-0000-4000-8000-000000000000'), undefined, 'a device no directory has');
  const sent = tenant.calls.filter((c) => c.path.startsWith(BETA));
  t.equal(sent.length, 4);
  t.match(decodeURIComponent(sent[0]!.url), `$filter=azureADDeviceId eq '${device.deviceId}'&$select=id,deviceName,azureADDeviceId`);
});

t.test('findManagedDevice without the read permission: forbidden, naming DeviceManagementManagedDevices.Read.All', async (t) => {
  const { tenant, graph } = await tenantFor(t);
  tenant.app.permissions.delete(INTUNE_READ_PERMISSION);
  const error = await findManagedDevice(graph(), tenant.directory.devices[0]!.deviceId).catch((e: unknown) => e);
  t.type(error, GraphError);
  t.match(error, { kind: 'forbidden', details: { status: 403, code: 'Forbidden', permission: INTUNE_READ_PERMISSION } });
  t.match((error as Error).message, /Application must have one of the following scopes: DeviceManagementManagedDevices\.Read\.All, DeviceManagementManagedDevices\.ReadWrite\.All\).*needs the application permission DeviceManagementManagedDevices\.Read\.All/);
  t.notMatch((error as Error).message, /_version|Operation ID/, "Intune's JSON text is read down to its message");
});

t.test('rotateLocalAdminPassword: resolves on 204; the device gets a new password after the delay', async (t) => {
  const { tenant, graph } = await tenantFor(t, { rotationDelayMs: 0 });
  const device = tenant.directory.devices.find((d) => d.laps && d.intune?.online)!;
  const before = device.laps!.expected[0]!.password;
  t.equal(await rotateLocalAdminPassword(graph(), device.intune!.managedDeviceId), undefined);
  t.match(tenant.intune.rotations, [{ managedDeviceId: device.intune!.managedDeviceId, deviceId: device.deviceId }]);
  t.match(tenant.calls.at(-1), { method: 'POST', path: `/beta/deviceManagement/managedDevices/${device.intune!.managedDeviceId}/rotateLocalAdminPassword`, status: 204 });
  await tenant.intune.rotationsApplied(device.deviceId);
  t.not(device.laps!.expected[0]!.password, before);
});

t.test('rotateLocalAdminPassword failures: forbidden names the permission, notFound, throttled at once with its Retry-After, a reset not retried', async (t) => {
  const { tenant, graph } = await tenantFor(t, { rotationDelayMs: 0 });
  const device = tenant.directory.devices.find((d) => d.intune)!;
  const id = device.intune!.managedDeviceId;

  tenant.app.permissions.delete(INTUNE_ROTATE_PERMISSION);
  const forbidden = await rotateLocalAdminPassword(graph(), id).catch((e: unknown) => e);
  t.type(forbidden, GraphError);
  t.match(forbidden, { kind: 'forbidden', details: { status: 403, permission: INTUNE_ROTATE_PERMISSION } });
  t.match((forbidden as Error).message, /needs the application permission DeviceManagementManagedDevices\.PrivilegedOperations\.All/);
  tenant.app.permissions.add(INTUNE_ROTATE_PERMISSION);

  t.match(await rotateLocalAdminPassword(graph(), '7d0b2c4e-1111-4222-8333-944455556666').catch((e: unknown) => e), { kind: 'notFound', details: { status: 404, code: 'ResourceNotFound' } });

  tenant.resetCalls();
  // A Retry-After well within the client's deadline, which a plain call would wait out and retry.
  tenant.faults.inject(BETA, { kind: 'throttle', retryAfter: 3 });
  const throttled = await rotateLocalAdminPassword(graph(), id).catch((e: unknown) => e);
  t.match(throttled, { kind: 'throttled', details: { status: 429, retryAfterSeconds: 3 } });
  t.equal(tenant.callCount(BETA), 1, 'one attempt: the job retries on its own schedule');

  tenant.faults.inject(BETA, { kind: 'unavailable', status: 503, retryAfter: 2 });
  t.match(await rotateLocalAdminPassword(graph(), id).catch((e: unknown) => e), { kind: 'throttled', details: { status: 503, retryAfterSeconds: 2 } });
  t.equal(tenant.callCount(BETA), 2);

  tenant.faults.inject(BETA, { kind: 'reset' });
  t.match(await rotateLocalAdminPassword(graph(), id).catch((e: unknown) => e), { kind: 'failed', message: /could not be reached/ });
  t.equal(tenant.callCount(BETA), 3, 'a broken connection is not retried: the action may have arrived');
  t.equal(tenant.intune.rotations.length, 0, 'none of these was taken');

  tenant.faults.inject(BETA, { kind: 'hang' });
  t.match(await rotateLocalAdminPassword(graph({ deadlineMs: 300 }), id).catch((e: unknown) => e), { kind: 'timeout' });
});

t.test('probeRotatePermission: true with the permission, false without, and nothing rotates', async (t) => {
  const { tenant, graph } = await tenantFor(t, { rotationDelayMs: 0 });
  t.equal(await probeRotatePermission(graph()), true);
  t.match(tenant.calls.at(-1), { method: 'POST', path: '/beta/deviceManagement/managedDevices/00000000-0000-0000-0000-000000000000/rotateLocalAdminPassword', status: 404 });
  tenant.app.permissions.delete(INTUNE_ROTATE_PERMISSION);
  t.equal(await probeRotatePermission(graph()), false);
  t.equal(tenant.intune.rotations.length, 0);

  tenant.faults.inject(BETA, { kind: 'unavailable', status: 503, times: 10 });
  t.match(await probeRotatePermission(graph({ maxAttempts: 2 })).catch((e: unknown) => e), { kind: 'throttled' }, 'an outage says nothing about the permission: thrown');
});

t.test('ids that are not what they should be are refused before any call', async (t) => {
  const { tenant, graph } = await tenantFor(t);
  for (const bad of ["x' or azureADDeviceId ne 'y", '', 'PC-0001', '1234', `${tenant.directory.devices[0]!.deviceId} `]) {
    const error = await findManagedDevice(graph(), bad).catch((e: unknown) => e);
    t.type(error, InvalidGraphSegment, `findManagedDevice(${JSON.stringify(bad)})`);
    t.match((error as Error).message, /is not an Entra deviceId \(a GUID\)/);
  }
  for (const bad of ['..', '', ' ', '$count']) {
    t.type(await rotateLocalAdminPassword(graph(), bad).catch((e: unknown) => e), InvalidGraphSegment, `rotateLocalAdminPassword(${JSON.stringify(bad)})`);
  }
  t.equal(tenant.callCount(), 0, 'no call was made');
});
