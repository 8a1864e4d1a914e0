/**
 * What a secret read asks of Graph, and in what order (issue 14): the device and the caller's groups
 * at once, the device's groups only when a rule targets a group, the secret only after the decision,
 * and the granted event written while the secret is read, which still never leaves before its event
 * is on disk. Round trips are counted from the order the simulated tenant saw the calls in, with a
 * latency on every Graph call so that calls made at once are seen overlapping (nothing is timed).
 */
import type { FileHandle } from 'node:fs/promises';
import t from 'tap';
import type { CallRecord, SimulatedTenant } from '../../daemon/simulated-tenant/index.js';
import { createKey, createRule, registerTenant, simulatedTenantFor, startTestDaemon, type TestContext } from '../helpers.js';

const LAPS = '/v1/secrets/local-admin-password';
/** Long against what it takes the daemon to send two calls it makes at once, short against a test. */
const LATENCY_MS = 1000;

async function setUp(t: TestContext, daemonOptions: Parameters<typeof startTestDaemon>[2] = {}) {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 10 });
  const daemon = await startTestDaemon(t, undefined, { caFile, ...daemonOptions });
  await registerTenant(t, daemon, tenant);
  // users[0] is in AMS-Helpdesk ⊂ AMS-LAPS-Readers; devices[0] (PC-0001) in Workstations-Site-A ⊂ All-Workstations.
  const user = tenant.directory.users[0]!;
  const key = await createKey(t, daemon, { name: 'helpdesk', role: 'user', tenantId: tenant.tenantId, principalId: user.id });
  const read = (body: Record<string, unknown>) => daemon.call({ method: 'POST', url: LAPS, key, body });
  const readEvents = async () => (await daemon.call({ url: '/v1/audit-events?type=secret.read&top=10' })).json().items.reverse();
  return { tenant, daemon, user, device: tenant.directory.devices[0]!, read, readEvents };
}

/** Each Graph call with its round trip: one more than the latest call answered before it was made. */
function roundTrips(calls: readonly CallRecord[]): { path: string; trip: number }[] {
  const graph = calls.filter((c) => c.service === 'graph');
  const trips: number[] = [];
  graph.forEach((call, i) => {
    const before = graph.slice(0, i).flatMap((earlier, j) => (earlier.at + LATENCY_MS <= call.at ? [trips[j]!] : []));
    trips.push(1 + Math.max(0, ...before));
  });
  return graph.map((call, i) => ({ path: call.path, trip: trips[i]! }));
}

function slowGraph(tenant: SimulatedTenant): void {
  tenant.resetCalls();
  tenant.faults.inject('/v1.0', { kind: 'latency', latencyMs: LATENCY_MS, times: 20 });
}

t.test('a cold read by name costs 3 Graph round trips when a rule targets a group: the device and the caller’s groups at once', async (t) => {
  const { tenant, daemon, user, device, read } = await setUp(t);
  await createRule(t, daemon, { description: 'Readers: workstations', tenantId: tenant.tenantId, groupId: 'All-Workstations', principalsAllowedLaps: ['AMS-LAPS-Readers'] });
  slowGraph(tenant);
  const res = await read({ computerName: device.displayName });
  t.equal(res.statusCode, 200, res.body);
  const trips = roundTrips(tenant.calls);
  t.same(
    trips.map((c) => `${c.trip} ${c.path}`).sort(),
    [
      '1 /v1.0/devices',
      `1 /v1.0/users/${user.id}/getMemberGroups`,
      `2 /v1.0/devices/${device.id}/checkMemberGroups`,
      `3 /v1.0/directory/deviceLocalCredentials/${device.deviceId}`,
    ].sort(),
    'device lookup ∥ caller’s groups, then the device’s groups, then the secret',
  );
});

t.test('with no rule targeting a group, the device’s groups are not asked: 2 round trips', async (t) => {
  const { tenant, daemon, device, read } = await setUp(t);
  await createRule(t, daemon, { description: 'Readers: the whole tenant', tenantId: tenant.tenantId, principalsAllowedLaps: ['AMS-LAPS-Readers'] });
  slowGraph(tenant);
  t.equal((await read({ computerName: device.displayName })).statusCode, 200);
  t.equal(tenant.callCount(`/v1.0/devices/${device.id}`), 0, 'no checkMemberGroups or getMemberGroups for the device');
  t.equal(Math.max(...roundTrips(tenant.calls).map((c) => c.trip)), 2);
});

t.test('a warm read costs exactly one Graph call: the secret', async (t) => {
  const { tenant, daemon, device, read } = await setUp(t);
  await createRule(t, daemon, { description: 'Readers: workstations', tenantId: tenant.tenantId, groupId: 'All-Workstations', principalsAllowedLaps: ['AMS-LAPS-Readers'] });
  t.equal((await read({ computerName: device.displayName })).statusCode, 200);
  tenant.resetCalls();
  t.equal((await read({ computerName: device.displayName })).statusCode, 200);
  t.same(tenant.calls.filter((c) => c.service === 'graph').map((c) => c.path), [`/v1.0/directory/deviceLocalCredentials/${device.deviceId}`]);
});

t.test('a refused read never asks for the secret', async (t) => {
  const { tenant, daemon, device, read } = await setUp(t);
  await createRule(t, daemon, { description: 'Nobody but AMS-Admins-Only', tenantId: tenant.tenantId, groupId: 'All-Workstations', principalsAllowedLaps: [tenant.directory.users[10]!.userPrincipalName] });
  tenant.resetCalls();
  t.equal((await read({ computerName: device.displayName })).statusCode, 403);
  t.equal(tenant.callCount('/v1.0/directory/deviceLocalCredentials'), 0);
});

t.test('the granted event is written while the secret is read; a failure after it is a second event', async (t) => {
  const { tenant, daemon, read, readEvents } = await setUp(t);
  await createRule(t, daemon, { description: 'Readers: the whole tenant', tenantId: tenant.tenantId, principalsAllowedLaps: ['AMS-LAPS-Readers'] });
  const noBackup = tenant.directory.devices.find((d) => !d.laps)!;
  const res = await read({ computerName: noBackup.displayName });
  t.equal(res.statusCode, 404);
  t.equal(res.json().code, 'NoLapsPassword');
  const events = (await readEvents()).slice(-2);
  t.match(events, [
    { eventId: 3001, device: { deviceName: noBackup.displayName }, outcome: { success: true, code: 'Success' } },
    { eventId: 4033, device: { deviceName: noBackup.displayName }, outcome: { success: false, code: 'NoLapsPassword' } },
  ]);
  t.equal(events[0].requestId, events[1].requestId, 'both events are of the one read');
});

t.test('a read whose audit write fails after Graph has answered never returns the secret', async (t) => {
  let tenantRef: SimulatedTenant | undefined;
  let failing = false;
  const secretAnswered = () => tenantRef!.calls.some((c) => c.path.startsWith('/v1.0/directory/deviceLocalCredentials') && c.status !== undefined);
  const { tenant, daemon, device, read } = await setUp(t, {
    testing: {
      auditIo: {
        sync: async (handle: FileHandle) => {
          if (failing) {
            // The disk fails only once Graph has sent the secret: the secret is in the daemon, its event is not on disk.
            // (Bounded, so that a daemon that waited for this sync before asking Graph fails here rather than hangs.)
            for (let i = 0; i < 5_000 && !secretAnswered(); i++) await new Promise((resolve) => setTimeout(resolve, 1));
            throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
          }
          await handle.datasync();
        },
      },
    },
  });
  tenantRef = tenant;
  await createRule(t, daemon, { description: 'Readers: the whole tenant', tenantId: tenant.tenantId, principalsAllowedLaps: ['AMS-LAPS-Readers'] });
  tenant.resetCalls();
  failing = true;
  const res = await read({ computerName: device.displayName });
  failing = false;
  t.equal(res.statusCode, 503);
  t.match(res.json(), { type: 'urn:amsd:problem:audit-unavailable', code: 'AuditUnavailable' });
  t.equal(tenant.callCount('/v1.0/directory/deviceLocalCredentials'), 1, 'Graph was asked for the secret, and answered');
  t.notMatch(res.body, device.laps!.expected[0]!.password, 'the password is not in the answer');
  t.notOk(daemon.logLines.some((line) => line.includes(device.laps!.expected[0]!.password)), 'nor in the log');
});
