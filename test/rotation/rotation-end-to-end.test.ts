/**
 * Rotation through Intune, end to end: the daemon, its rules and jobs, against the simulated tenant's
 * Intune (which changes the device's LAPS password once the device carries out the action). A rule
 * rotates after reads (the password changes, the old one is no longer current), reading twice schedules
 * one rotation, throttling is retried, a pending job survives a restart, a device Intune does not manage
 * and a tenant without the permission are read but not rotated (and say why), and
 * Reset-AmsLocalAdminPassword's endpoint rotates on demand for whom it may.
 */
import t from 'tap';
import type { SimulatedTenant } from '../../daemon/simulated-tenant/index.js';
import { assertMatchesSpec, createKey, createRule, registerTenant, simulatedTenantFor, startTestDaemon, tempDir, type TestContext, type TestDaemon } from '../helpers.js';
import { startReceiver } from '../notifications/fixtures.js';

const ROTATE_PERMISSION = 'DeviceManagementManagedDevices.PrivilegedOperations.All';
const testing = { rotationBackoffMs: [100, 200], rotationPollMs: 200 };

async function setUp(t: TestContext, rule: Record<string, unknown> = { rotateAfterReadMinutes: 0 }, dataDir?: string, more: Record<string, unknown> = {}) {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 30, rotationDelayMs: 20 });
  const daemon = await startTestDaemon(t, dataDir, { caFile, testing: { ...testing, ...more } });
  await registerTenant(t, daemon, tenant);
  const user = tenant.directory.users[0]!; // in AMS-Helpdesk
  const key = await createKey(t, daemon, { name: 'helpdesk', role: 'user', tenantId: tenant.tenantId, principalId: user.id });
  const created = await createRule(t, daemon, { description: 'Helpdesk: every device', tenantId: tenant.tenantId, principalsAllowedLaps: ['AMS-Helpdesk'], ...rule });
  return { tenant, caFile, daemon, key, rule: created };
}

const device = (tenant: SimulatedTenant, name: string) => tenant.directory.devices.find((d) => d.displayName === name)!;

function read(daemon: TestDaemon, key: string, computerName: string) {
  return daemon.call({ method: 'POST', url: '/v1/secrets/local-admin-password', key, body: { computerName } });
}

/** Asks until `check` holds (at most `tries` times, 50 ms apart): the worker and the device run on their own. */
async function until<T>(what: string, ask: () => Promise<T>, check: (value: T) => boolean, tries = 200): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < tries; i++) {
    last = await ask();
    if (check(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what}: not reached; last seen ${JSON.stringify(last)}`);
}

const rotations = async (daemon: TestDaemon, query = '') => (await daemon.call({ url: `/v1/password-rotations${query}` })).json().items as Record<string, any>[];
const events = async (daemon: TestDaemon, type: string) => (await daemon.call({ url: `/v1/audit-events?type=${type}` })).json().items as Record<string, any>[];

t.test('a rule that rotates after reads: the read says when, Intune rotates, the next read returns a new password', async (t) => {
  const { tenant, daemon, key, rule } = await setUp(t);
  const pc = device(tenant, 'PC-0001');
  const first = await read(daemon, key, 'PC-0001');
  t.equal(first.statusCode, 200, first.body);
  assertMatchesSpec(t, first, 'getLocalAdminPassword');
  const answer = first.json();
  t.ok(answer.rotationScheduledAt, 'the answer says a rotation follows');
  t.ok(Date.parse(answer.rotationScheduledAt) <= Date.now(), '0 minutes: at once');
  t.ok(answer.rotationId);
  t.equal(answer.rotationUnavailableReason, undefined);

  const [job] = await until('the rotation is done', () => rotations(daemon, '?status=done'), (items) => items.length === 1);
  t.match(job, { id: answer.rotationId, deviceName: 'PC-0001', deviceId: pc.deviceId, status: 'done', trigger: 'afterRead', ruleId: rule.id, attempts: 1, requestedBy: tenant.directory.users[0]!.userPrincipalName });
  t.equal(job!.managedDeviceId, tenant.intune.managedDeviceId(pc.deviceId), 'found in Intune by its Entra deviceId');
  await tenant.intune.rotationsApplied(pc.deviceId);
  t.equal(tenant.intune.rotations.length, 1, 'one action was sent');

  const second = (await read(daemon, key, 'PC-0001')).json();
  t.not(second.password, answer.password, 'the password read before no longer is the current one');
  t.ok(Date.parse(second.passwordUpdateTime) > Date.parse(answer.passwordUpdateTime), 'the device backed up a new one');

  const scheduled = await events(daemon, 'rotation.scheduled');
  const completed = await events(daemon, 'rotation.completed');
  t.equal(scheduled.at(-1)!.eventId, 3011);
  t.match(scheduled.at(-1), { actor: { displayName: 'helpdesk' }, device: { deviceName: 'PC-0001' }, rotation: { jobId: answer.rotationId, trigger: 'afterRead', ruleId: rule.id } });
  // Newest first: the last is the first read, the one that scheduled the rotation.
  const firstRead = (await daemon.call({ url: '/v1/audit-events?type=secret.read&outcome=success' })).json().items.at(-1);
  t.equal(scheduled.at(-1)!.rotation.readEventId, firstRead.id, 'the rotation names the read that caused it');
  t.match(completed[0], { eventId: 3013, actor: { kind: 'system' }, rotation: { jobId: answer.rotationId } });
});

t.test('reading twice within the delay schedules one rotation', async (t) => {
  const { daemon, key, tenant } = await setUp(t, { rotateAfterReadMinutes: 60 });
  const first = (await read(daemon, key, 'PC-0001')).json();
  const second = (await read(daemon, key, 'PC-0001')).json();
  t.equal(second.rotationId, first.rotationId, 'the same job');
  t.equal(second.rotationScheduledAt, first.rotationScheduledAt);
  const due = Date.parse(first.rotationScheduledAt) - Date.now();
  t.ok(due > 58 * 60_000 && due <= 60 * 60_000, `in an hour (${Math.round(due / 1000)} s)`);
  t.equal((await rotations(daemon, '?status=pending')).length, 1);
  t.equal((await events(daemon, 'rotation.scheduled')).length, 1, 'one rotation on the record, not one per read');
  t.equal(tenant.intune.rotations.length, 0, 'nothing asked of Intune before the delay');
  const other = (await read(daemon, key, 'PC-0002')).json();
  t.not(other.rotationId, first.rotationId, 'another device has its own');
});

t.test('Intune throttling is retried after its Retry-After, and the rotation is then done', async (t) => {
  const { daemon, key, tenant } = await setUp(t);
  const pc = device(tenant, 'PC-0001');
  tenant.faults.inject(`/beta/deviceManagement/managedDevices/${tenant.intune.managedDeviceId(pc.deviceId)}/rotateLocalAdminPassword`, { kind: 'throttle', retryAfter: 0.3, times: 2 });
  const answer = (await read(daemon, key, 'PC-0001')).json();
  const [job] = await until('the rotation is done', () => rotations(daemon, '?status=done'), (items) => items.length === 1);
  t.equal(job!.id, answer.rotationId);
  t.equal(job!.attempts, 3, 'two throttled attempts, then the one Intune took');
  t.equal(tenant.intune.rotations.length, 1, 'one action taken');
  const throttled = tenant.calls.filter((c) => c.path.endsWith('/rotateLocalAdminPassword') && c.fault === 'throttle');
  t.equal(throttled.length, 2);
});

t.test('a pending rotation survives a restart and is done by the next daemon', async (t) => {
  const dataDir = `${await tempDir(t)}/data`;
  const { tenant, caFile, daemon, key } = await setUp(t, { rotateAfterReadMinutes: 0 }, dataDir);
  const pc = device(tenant, 'PC-0001');
  // Intune throttles for longer than this daemon lives: the job is pending when it stops.
  tenant.faults.inject(`/beta/deviceManagement/managedDevices/${tenant.intune.managedDeviceId(pc.deviceId)}/rotateLocalAdminPassword`, { kind: 'throttle', retryAfter: 2, times: 1 });
  const answer = (await read(daemon, key, 'PC-0001')).json();
  await until('the first attempt is made', () => rotations(daemon), (items) => items[0]?.attempts === 1);
  await daemon.app.close();
  t.equal(tenant.intune.rotations.length, 0, 'not rotated before the restart');

  const next = await startTestDaemon(t, dataDir, { caFile, testing, adminKey: daemon.adminKey });
  const [job] = await until('the rotation is done after the restart', () => rotations(next, '?status=done'), (items) => items.length === 1);
  t.equal(job!.id, answer.rotationId);
  t.equal(job!.attempts, 2);
  t.equal(tenant.intune.rotations.length, 1);
});

t.test('a device Intune does not manage is read, not rotated, and the answer and the trail say why', async (t) => {
  const { daemon, key, tenant } = await setUp(t);
  const pc = device(tenant, 'PC-0004');
  t.notOk(tenant.intune.isManaged(pc.deviceId), 'PC-0004 is not enrolled in Intune');
  const res = await read(daemon, key, 'PC-0004');
  t.equal(res.statusCode, 200, 'the read works');
  const answer = res.json();
  t.ok(answer.password);
  t.equal(answer.rotationScheduledAt, undefined);
  t.match(answer.rotationUnavailableReason, /PC-0004 is not managed by Intune/);
  const [skipped] = await events(daemon, 'rotation.skipped');
  t.match(skipped, { eventId: 4052, device: { deviceName: 'PC-0004' }, rotation: { trigger: 'afterRead', error: /not managed by Intune/ } });
  t.same(await rotations(daemon), [], 'no job');

  const reset = await daemon.call({ method: 'POST', url: '/v1/secrets/local-admin-password/rotation', body: { computerName: 'PC-0004' } });
  t.equal(reset.statusCode, 409);
  assertMatchesSpec(t, reset, 'resetLocalAdminPassword');
  t.match(reset.json(), { type: 'urn:amsd:problem:rotation-unavailable', detail: /not managed by Intune/ });
  const refused = (await daemon.call({ url: '/v1/audit-events?accessType=LocalAdminPasswordRotation' })).json().items;
  t.match(refused[0], { eventId: 4039, outcome: { success: false, code: 'RotationUnavailable' } }, 'the newest: granted by no rule needed (an admin), then refused');
});

t.test('a tenant whose app lacks the permission: reads work and say so, Test-AmsTenant reports it as optional', async (t) => {
  const { daemon, key, tenant } = await setUp(t);
  tenant.app.permissions.delete(ROTATE_PERMISSION);
  // A changed tenant gets a new MSAL client: a token without the role.
  t.equal((await daemon.call({ method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body: { displayName: 'Simulated, no rotation' } })).statusCode, 200);
  const answer = (await read(daemon, key, 'PC-0001')).json();
  t.ok(answer.password, 'the read works');
  t.match(answer.rotationUnavailableReason, /PrivilegedOperations\.All/);
  t.same(await rotations(daemon), []);
  t.equal(tenant.intune.rotations.length, 0);

  const report = (await daemon.call({ method: 'POST', url: `/v1/tenants/${tenant.tenantId}/test` })).json();
  t.equal(report.succeeded, true, 'the tenant serves reads: the report passes');
  t.match(report.checks.find((c: { name: string }) => c.name === 'rotateLapsPasswords'), { succeeded: false, optional: true, permission: ROTATE_PERMISSION });
  t.match(report.checks.find((c: { name: string }) => c.name === 'findIntuneDevices'), { succeeded: true, optional: true });
  tenant.app.permissions.add(ROTATE_PERMISSION);
  await daemon.call({ method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body: { displayName: 'Simulated again' } });
  const granted = (await daemon.call({ method: 'POST', url: `/v1/tenants/${tenant.tenantId}/test` })).json();
  t.match(granted.checks.find((c: { name: string }) => c.name === 'rotateLapsPasswords'), { succeeded: true, optional: true });
  t.equal(tenant.intune.rotations.length, 0, 'checking the permission rotates nothing');
});

t.test('on demand: administrators, and users a rule grants LocalAdminPasswordRotation; an offline device rotates once it is online', async (t) => {
  const { daemon, key, tenant } = await setUp(t, {});
  const refused = await daemon.call({ method: 'POST', url: '/v1/secrets/local-admin-password/rotation', key, body: { computerName: 'PC-0001' } });
  t.equal(refused.statusCode, 403, 'the read rule does not grant rotation');
  t.match(refused.json(), { detail: /have the local administrator password of PC-0001 rotated/ });

  await createRule(t, daemon, { description: 'Helpdesk may rotate', tenantId: tenant.tenantId, principalsAllowedLapsRotation: ['AMS-Helpdesk'] });
  const byUser = await daemon.call({ method: 'POST', url: '/v1/secrets/local-admin-password/rotation', key, body: { computerName: 'PC-0001', reason: 'INC-7: read out on a call' } });
  t.equal(byUser.statusCode, 202, byUser.body);
  assertMatchesSpec(t, byUser, 'resetLocalAdminPassword');
  assertMatchesSpec(t, await daemon.call({ url: '/v1/password-rotations?status=pending' }), 'listPasswordRotations');
  t.equal((await daemon.call({ url: '/v1/password-rotations', key })).statusCode, 403, 'the list is for administrators');
  t.match(byUser.json(), { deviceName: 'PC-0001', trigger: 'onDemand', reason: 'INC-7: read out on a call', requestedBy: tenant.directory.users[0]!.userPrincipalName });
  const granted = (await daemon.call({ url: '/v1/audit-events?accessType=LocalAdminPasswordRotation&outcome=success' })).json().items;
  t.match(granted[0], { eventId: 3005, reason: 'INC-7: read out on a call' });

  const offline = device(tenant, 'PC-0013');
  t.ok(tenant.intune.isManaged(offline.deviceId));
  tenant.intune.setOnline(offline.deviceId, false);
  const password = async () => (await read(daemon, key, 'PC-0013')).json().password as string;
  const stale = await password();
  const byAdmin = await daemon.call({ method: 'POST', url: '/v1/secrets/local-admin-password/rotation', body: { computerName: 'PC-0013' } });
  t.equal(byAdmin.statusCode, 202, 'an administrator needs no rule');
  await until('Intune took the action', () => rotations(daemon, '?status=done&computerName=pc-0013'), (items) => items.length === 1);
  t.equal(await password(), stale, 'offline: Intune took the action, the device has not rotated yet');
  tenant.intune.setOnline(offline.deviceId, true);
  await tenant.intune.rotationsApplied(offline.deviceId);
  t.not(await password(), stale, 'rotated once it checked in');
});

t.test('a rotation Intune never takes fails after its attempts, on the record and told to the failure channels', async (t) => {
  const { daemon, key, tenant } = await setUp(t, {});
  const receiver = await startReceiver(t);
  const channel = await daemon.call({
    method: 'POST',
    url: '/v1/notification-channels',
    body: { name: 'SOC', kind: 'webhook', url: `${receiver.url}/hook`, bodyTemplate: '{"text": "{{EventId}} {{AccessType}} {{ComputerName}} {{Code}}: {{Message}}"}' },
  });
  t.equal(channel.statusCode, 201, channel.body);
  await createRule(t, daemon, { description: 'PC-0001: rotated at once', tenantId: tenant.tenantId, deviceId: 'PC-0001', principalsAllowedLaps: ['AMS-Helpdesk'], rotateAfterReadMinutes: 0, notificationChannelsFailure: ['SOC'] });
  const pc = device(tenant, 'PC-0001');
  tenant.faults.inject(`/beta/deviceManagement/managedDevices/${tenant.intune.managedDeviceId(pc.deviceId)}/rotateLocalAdminPassword`, { kind: 'unavailable', times: 50 });
  const answer = (await read(daemon, key, 'PC-0001')).json();
  const [job] = await until('the rotation is given up', () => rotations(daemon, '?status=failed'), (items) => items.length === 1);
  t.match(job, { id: answer.rotationId, attempts: 10, lastError: /gave up after 10 attempts: .*503/ });
  const [failed] = await events(daemon, 'rotation.failed');
  t.match(failed, { eventId: 4051, rotation: { jobId: answer.rotationId, attempts: 10 } });
  const [told] = await receiver.untilRequests(1);
  t.match(JSON.parse(told!.body).text, /^4051 LocalAdminPasswordRotation PC-0001 DirectoryError: The rotation of the LAPS password of PC-0001 failed: gave up after 10 attempts/);
  t.equal(tenant.intune.rotations.length, 0);
});

t.test('a slow Intune does not hold the password back: the read answers, and the job finds out later', async (t) => {
  // The read's budget is 30 s (the default); the check of whether Intune can rotate waits 0.3 s here (5 s by default).
  const { daemon, key, tenant } = await setUp(t, { rotateAfterReadMinutes: 0 }, undefined, { rotationReadCheckMs: 300 });
  tenant.faults.inject('/beta/deviceManagement/managedDevices', { kind: 'hang' });
  const started = Date.now();
  const res = await read(daemon, key, 'PC-0001');
  const took = Date.now() - started;
  t.equal(res.statusCode, 200, res.body);
  t.ok(took < 15_000, `answered long before the read's budget of 30 s ran out (${took} ms)`);
  t.ok(res.json().rotationScheduledAt, 'Intune could not say no in time: the rotation is scheduled, and the job asks again');
  const [job] = await until('the rotation is done', () => rotations(daemon, '?status=done'), (items) => items.length === 1);
  t.equal(job!.id, res.json().rotationId);
});
