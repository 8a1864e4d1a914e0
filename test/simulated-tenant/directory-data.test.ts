/** The seeded directory: the same for the same seed, full of the awkward cases, fast at 500 devices. */
import t from 'tap';
import { generateDirectory, transitiveGroupIds } from '../../daemon/simulated-tenant/directory-data.js';
import { decodeLapsPassword } from '../../daemon/directory/laps.js';
import { tenantFor } from './fixtures/harness.js';

t.test('deterministic from the seed', async (t) => {
  const now = Date.UTC(2030, 0, 15);
  t.same(generateDirectory({ seed: 7, now }), generateDirectory({ seed: 7, now }));
  t.not(generateDirectory({ seed: 7 }).devices[0]!.deviceId, generateDirectory({ seed: 8 }).devices[0]!.deviceId);
  t.equal(generateDirectory().devices.length, 50, 'default size');
});

t.test('dates are relative to now: no current LAPS password has already expired', async (t) => {
  const now = Date.now();
  const withLaps = generateDirectory({ devices: 60, seed: 20261123 }).devices.filter((d) => d.laps);
  t.ok(withLaps.length > 0);
  for (const d of withLaps) {
    const backup = Date.parse(d.laps!.lastBackupDateTime);
    t.ok(backup <= now && backup > now - 8 * 24 * 3600_000, `${d.displayName}: backed up in the last week`);
    t.ok(Date.parse(d.laps!.refreshDateTime) > now, `${d.displayName}: its password expires in the future`);
  }
  const fixed = Date.UTC(2030, 0, 15);
  t.same(generateDirectory({ seed: 3, now: fixed }), generateDirectory({ seed: 3, now: fixed }), 'a given now gives the same dates');
  t.ok(Date.parse(generateDirectory({ seed: 3, now: fixed }).devices[0]!.approximateLastSignInDateTime) < fixed);
});

t.test('contains the cases a client must handle', async (t) => {
  const directory = generateDirectory({ devices: 50 });
  const withLaps = directory.devices.filter((d) => d.laps);
  t.ok(directory.duplicateNames.length >= 2, 'duplicate names');
  t.ok(withLaps.length < directory.devices.length, 'devices without a LAPS backup');
  t.ok(withLaps.every((d) => d.laps!.credentials.length >= 2), 'histories of several entries');
  t.ok(withLaps.some((d) => d.laps!.credentials[0]!.backupDateTime !== d.laps!.expected[0]!.backupDateTime), 'history not newest first');
  const encodings = new Set(withLaps.map((d) => d.laps!.expected[0]!.encoding));
  t.same([...encodings].sort(), ['utf16le', 'utf8']);
  t.ok(withLaps.some((d) => new Set(d.laps!.expected.map((p) => p.account)).size > 1), 'another account in the history');
  for (const d of withLaps) {
    for (const c of d.laps!.credentials) {
      t.ok(d.laps!.expected.some((p) => p.password === decodeLapsPassword(c.passwordBase64)), `${d.displayName} decodes`);
    }
  }
  t.ok(directory.devices.some((d) => d.bitlockerKeys.length > 0) && directory.devices.some((d) => d.bitlockerKeys.length === 0));
  t.ok(directory.users.every((u) => /^[^@]+@contoso\.example$/.test(u.userPrincipalName)));
  const nested = directory.groups.filter((g) => g.members.some((m) => directory.groups.some((x) => x.id === m)));
  t.ok(nested.length >= 2, 'groups in groups');
  const admins = directory.groups.find((g) => g.displayName === 'AMS-Admins')!;
  t.ok(transitiveGroupIds(directory, directory.users[0]!.id).has(admins.id), 'two levels deep');
});

t.test('500 devices start and are all served', async (t) => {
  const { tenant, graph } = await tenantFor(t, { devices: 500, seed: 42 });
  t.equal(tenant.directory.devices.length, 500);
  t.equal((await graph().all('/v1.0/devices?$top=999')).length, 500);
  t.equal((await graph().all('/v1.0/devices')).length, 500, 'default pages of 100');
});
