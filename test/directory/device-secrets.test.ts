/**
 * The directory functions the access layer uses, against the simulated tenant over TLS: passwords
 * decoded whatever their encoding, newest first; BitLocker keys with their volume type read either
 * way; transitive group checks in batches of 20, cached.
 */
import t from 'tap';
import { TenantConnections } from '../../daemon/directory/connections.js';
import { DeviceSecrets } from '../../daemon/directory/device-secrets.js';
import type { Device } from '../../daemon/directory/devices.js';
import { createHttpStack } from '../../daemon/directory/http-stack.js';
import type { SeededDevice, SimulatedTenant } from '../../daemon/simulated-tenant/index.js';
import { registerTenant, simulatedTenantFor, startTestDaemon, type TestContext } from '../helpers.js';

async function setUp(t: TestContext) {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 40 });
  const daemon = await startTestDaemon(t);
  await registerTenant(t, daemon, tenant);
  const dispatcher = createHttpStack({ caFile });
  t.teardown(() => dispatcher.close());
  const secrets = new DeviceSecrets(new TenantConnections(daemon.tenants, dispatcher, 'test'));
  const asDevice = (d: SeededDevice): Device => ({ deviceName: d.displayName, deviceId: d.deviceId, objectId: d.id, tenantId: tenant.tenantId });
  return { tenant, secrets, asDevice };
}

t.test('LAPS credentials: every encoding decoded, newest first; no backup is undefined', async (t) => {
  const { tenant, secrets, asDevice } = await setUp(t);
  const withLaps = tenant.directory.devices.filter((d) => d.laps);
  t.ok(withLaps.some((d) => d.laps!.expected.some((p) => p.encoding === 'utf16le')), 'the seed has UTF-16LE passwords');
  t.ok(withLaps.some((d) => d.laps!.expected.some((p) => p.encoding === 'utf8')), 'and UTF-8 ones');
  for (const device of withLaps) {
    const credentials = await secrets.lapsCredentials(asDevice(device));
    t.same(
      credentials!.map((c) => [c.account, c.password, c.passwordUpdateTime]),
      device.laps!.expected.map((p) => [p.account, p.password, new Date(p.backupDateTime).toISOString()]),
      `${device.displayName}: ${device.laps!.expected.length} credentials`,
    );
    t.equal(credentials![0]!.passwordExpirationTime, new Date(device.laps!.refreshDateTime).toISOString());
  }
  const without = tenant.directory.devices.find((d) => !d.laps)!;
  t.equal(await secrets.lapsCredentials(asDevice(without)), undefined);
});

t.test('BitLocker keys with numeric or named volume types', async (t) => {
  const { tenant, secrets, asDevice } = await setUp(t);
  const withKeys = tenant.directory.devices.filter((d) => d.bitlockerKeys.length > 0);
  t.ok(withKeys.length > 0);
  const names: Record<string, string> = { '1': 'operatingSystemVolume', '2': 'fixedDataVolume', '3': 'removableDataVolume' };
  for (const device of withKeys) {
    const keys = await secrets.bitLockerKeys(asDevice(device));
    t.same(
      keys.map((k) => [k.id, k.key, k.volumeType]).sort(),
      device.bitlockerKeys.map((k) => [k.id, k.key, names[String(k.volumeType)] ?? k.volumeType]).sort(),
      device.displayName,
    );
  }
});

/** Every group that contains `objectId`, directly or through nested groups. */
function transitiveGroups(tenant: SimulatedTenant, objectId: string): Set<string> {
  const found = new Set<string>();
  let frontier = [objectId];
  while (frontier.length > 0) {
    const next = tenant.directory.groups.filter((g) => !found.has(g.id) && g.members.some((m) => frontier.includes(m)));
    for (const g of next) found.add(g.id);
    frontier = next.map((g) => g.id);
  }
  return found;
}

t.test('group membership is transitive, asked 20 groups at a time, and cached', async (t) => {
  const { tenant, secrets } = await setUp(t);
  const allGroups = tenant.directory.groups.map((g) => g.id);
  const device = tenant.directory.devices.find((d) => {
    const direct = new Set(tenant.directory.groups.filter((g) => g.members.includes(d.id)).map((g) => g.id));
    return [...transitiveGroups(tenant, d.id)].some((g) => !direct.has(g));
  });
  t.ok(device, 'the seed has a device in a group only through a nested group');
  const askedFor = [...allGroups, ...Array.from({ length: Math.max(0, 25 - allGroups.length) }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`)];
  t.ok(askedFor.length > 20);

  tenant.resetCalls();
  const member = await secrets.memberOf(tenant.tenantId, 'devices', device!.id, askedFor);
  t.same([...member].sort(), [...transitiveGroups(tenant, device!.id)].sort());
  t.equal(tenant.callCount(`/v1.0/devices/${device!.id}/checkMemberGroups`), Math.ceil(askedFor.length / 20), 'batches of 20');

  await secrets.memberOf(tenant.tenantId, 'devices', device!.id, askedFor.slice(0, 5));
  t.equal(tenant.callCount(`/v1.0/devices/${device!.id}/checkMemberGroups`), Math.ceil(askedFor.length / 20), 'answered from the cache');
});
