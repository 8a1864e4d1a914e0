/**
 * The rotation service on its own: scheduling once per device, the worker's attempts against a scripted
 * Intune (done, throttled with Retry-After, refused, not managed, out of attempts), what each leaves on
 * the audit trail and tells the failure channels, and what reads are told. Time is a manual clock; the
 * job store is a small in-memory one (both real stores pass the same contract in their own tests).
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import type { AuditTrail } from '../../daemon/audit/audit-trail.js';
import { eventIdOf, type AuditEvent, type AuditEventInput } from '../../daemon/audit/events.js';
import { GraphError } from '../../daemon/common/errors.js';
import type { Device } from '../../daemon/directory/devices.js';
import type { NotificationEvent } from '../../daemon/notifications/templates.js';
import type { NewRotationJob, RotationJob, RotationJobChange, RotationJobFilter, RotationJobStore } from '../../daemon/rotation/rotation-jobs.js';
import { NO_PERMISSION, NOT_MANAGED, RotationService, type IntuneActions } from '../../daemon/rotation/rotation-service.js';
import { ManualClock } from '../notifications/fixtures.js';

class MemoryJobs implements RotationJobStore {
  readonly jobs: RotationJob[] = [];
  readonly #leases = new Map<string, number>();
  async schedule(job: NewRotationJob) {
    const pending = this.jobs.find((j) => j.status === 'pending' && j.tenantId === job.tenantId && j.deviceId === job.deviceId);
    if (pending) {
      if (Date.parse(job.dueAt) < Date.parse(pending.dueAt)) pending.dueAt = job.dueAt;
      return { job: structuredClone(pending), created: false };
    }
    const created: RotationJob = { ...job, id: randomUUID(), status: 'pending', attempts: 0 };
    this.jobs.push(created);
    return { job: structuredClone(created), created: true };
  }
  async claimDue(now: number, limit: number, leaseMs: number) {
    const due = this.jobs.filter((j) => j.status === 'pending' && Date.parse(j.dueAt) <= now && (this.#leases.get(j.id) ?? 0) <= now).slice(0, limit);
    for (const j of due) this.#leases.set(j.id, now + leaseMs);
    return structuredClone(due);
  }
  async update(id: string, change: RotationJobChange) {
    const job = this.jobs.find((j) => j.id === id);
    if (!job) return undefined;
    Object.assign(job, change);
    this.#leases.delete(id);
    return structuredClone(job);
  }
  async get(id: string) {
    return this.jobs.find((j) => j.id === id);
  }
  async list(_filter?: RotationJobFilter) {
    return structuredClone([...this.jobs].reverse());
  }
  async unreported() {
    return structuredClone(this.jobs.filter((j) => j.status === 'failed' && !j.reportedAt));
  }
  async nextDueAt() {
    const due = this.jobs.filter((j) => j.status === 'pending').map((j) => Date.parse(j.dueAt));
    return due.length ? Math.min(...due) : undefined;
  }
}

function memoryAudit(clock: ManualClock) {
  const events: AuditEvent[] = [];
  const trail = {
    async append(input: AuditEventInput) {
      const event = { ...input, seq: events.length + 1, id: randomUUID(), time: new Date(clock.now()).toISOString(), eventId: eventIdOf(input), prevHash: '', hash: '' } as AuditEvent;
      events.push(event);
      return event;
    },
  } as unknown as AuditTrail;
  return { trail, events };
}

const TENANT = '11111111-1111-4111-8111-111111111111';
const device = (n: number): Device => ({ tenantId: TENANT, deviceId: `00000000-0000-4000-8000-00000000000${n}`, objectId: randomUUID(), deviceName: `PC-000${n}` });
const actor = { kind: 'apiKey' as const, id: 'k1', displayName: 'helpdesk', role: 'user' as const };

function setUp(script: Partial<IntuneActions> = {}, options: { maxAttempts?: number } = {}) {
  const clock = new ManualClock();
  const jobs = new MemoryJobs();
  const audit = memoryAudit(clock);
  const calls = { rotate: 0, find: 0, mayRotate: 0 };
  const told: { event: NotificationEvent; ruleId: string | undefined }[] = [];
  const errors: unknown[] = [];
  const intune: IntuneActions = {
    findManagedDevice: async (tenantId, deviceId, deadline) => {
      calls.find++;
      return script.findManagedDevice ? script.findManagedDevice(tenantId, deviceId, deadline) : `managed-${deviceId}`;
    },
    rotate: async (tenantId, id) => {
      calls.rotate++;
      if (script.rotate) await script.rotate(tenantId, id);
    },
    mayRotate: async (tenantId, deadline) => {
      calls.mayRotate++;
      return script.mayRotate ? script.mayRotate(tenantId, deadline) : true;
    },
  };
  const service = new RotationService({
    jobs,
    audit: audit.trail,
    intune,
    notifyFailure: (event, ruleId) => told.push({ event, ruleId }),
    clock,
    random: () => 0.5, // no jitter: the backoff step exactly
    backoffMs: [30_000, 120_000],
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
    onError: (error) => errors.push(error),
  });
  t.teardown(() => service.stop());
  const types = () => audit.events.map((e) => e.type);
  /** Moves the clock timer by timer, letting the worker finish what each one made due (it sets its next timer only then). */
  const advance = async (ms: number) => {
    const target = clock.now() + ms;
    for (;;) {
      await service.idle();
      const next = Math.min(...clock.pendingTimers);
      if (!(clock.now() + next <= target)) break;
      clock.advance(next);
    }
    clock.advance(target - clock.now());
    await service.idle();
  };
  return { clock, jobs, audit, calls, told, errors, service, types, advance };
}

t.test('reading twice within the delay schedules one rotation, due at the earlier time', async (t) => {
  const { service, jobs, types, clock } = setUp();
  const first = await service.schedule({ device: device(1), trigger: 'afterRead', dueAt: clock.now() + 60 * 60_000, actor, ruleId: 'r1', readEventId: 'e1' });
  const second = await service.schedule({ device: device(1), trigger: 'afterRead', dueAt: clock.now() + 10 * 60_000, actor, ruleId: 'r2', readEventId: 'e2' });
  const other = await service.schedule({ device: device(2), trigger: 'afterRead', dueAt: clock.now() + 10 * 60_000, actor });
  t.ok(first.created);
  t.notOk(second.created, 'the second read joins the pending rotation');
  t.equal(second.job.id, first.job.id);
  t.equal(second.job.dueAt, new Date(clock.now() + 10 * 60_000).toISOString(), 'moved to the earlier time');
  t.ok(other.created, 'another device has its own');
  t.equal(jobs.jobs.length, 2);
  t.same(types(), ['rotation.scheduled', 'rotation.scheduled'], 'one event per rotation, not per read');
});

t.test('a due job asks Intune once, and is done; one not yet due waits', async (t) => {
  const { service, jobs, calls, audit, advance, clock } = setUp();
  service.start();
  await service.schedule({ device: device(1), trigger: 'afterRead', dueAt: clock.now() + 5 * 60_000, actor, ruleId: 'r1' });
  await service.idle();
  t.equal(calls.rotate, 0, 'not before it is due');
  await advance(5 * 60_000);
  t.equal(calls.rotate, 1);
  t.match(jobs.jobs[0], { status: 'done', attempts: 1, managedDeviceId: `managed-${device(1).deviceId}` });
  t.ok(jobs.jobs[0]!.completedAt);
  const done = audit.events.find((e) => e.type === 'rotation.completed')!;
  t.match(done, { eventId: 3013, actor: { kind: 'system' }, device: { deviceName: 'PC-0001' }, rotation: { jobId: jobs.jobs[0]!.id, attempts: 1, ruleId: 'r1' } });
  await advance(60 * 60_000);
  t.equal(calls.rotate, 1, 'and never again');
});

t.test('throttling is retried after Retry-After when it is longer than the backoff, then the rotation is done', async (t) => {
  let throttle = 1;
  const { service, jobs, calls, advance, clock } = setUp({
    rotate: async () => {
      if (throttle-- > 0) throw new GraphError('throttled', 'Microsoft Graph is throttling (429)', { status: 429, clientRequestId: 'c', retryAfterSeconds: 300 });
    },
  });
  service.start();
  await service.schedule({ device: device(1), trigger: 'onDemand', dueAt: clock.now(), actor });
  await service.idle();
  t.equal(calls.rotate, 1);
  t.match(jobs.jobs[0], { status: 'pending', attempts: 1, lastError: /throttling/ });
  t.equal(Date.parse(jobs.jobs[0]!.dueAt) - clock.now(), 300_000, 'Retry-After (300 s) outlasts the first backoff step (30 s)');
  await advance(299_000);
  t.equal(calls.rotate, 1, 'not before Retry-After');
  await advance(1_000);
  t.equal(calls.rotate, 2);
  t.match(jobs.jobs[0], { status: 'done', attempts: 2 });
});

t.test('a 503 without Retry-After backs off by the steps', async (t) => {
  const { service, jobs, clock } = setUp({
    rotate: async () => {
      throw new GraphError('throttled', 'Intune is unavailable (503)', { status: 503, clientRequestId: 'c' });
    },
  });
  service.start();
  await service.schedule({ device: device(1), trigger: 'onDemand', dueAt: clock.now(), actor });
  await service.idle();
  t.equal(Date.parse(jobs.jobs[0]!.dueAt) - clock.now(), 30_000);
});

t.test('a refusal for want of the permission fails the job at once, is audited, told, and known to reads', async (t) => {
  const { service, jobs, calls, audit, told, clock } = setUp({
    rotate: async () => {
      throw new GraphError('forbidden', 'Microsoft Graph refused the call (403)', { status: 403, clientRequestId: 'c', permission: 'DeviceManagementManagedDevices.PrivilegedOperations.All' });
    },
  });
  service.start();
  await service.schedule({ device: device(1), trigger: 'afterRead', dueAt: clock.now(), actor, ruleId: 'r1', reason: 'INC-1' });
  await service.idle();
  t.equal(calls.rotate, 1, 'not retried');
  t.match(jobs.jobs[0], { status: 'failed', attempts: 1, lastError: NO_PERMISSION });
  t.ok(jobs.jobs[0]!.reportedAt, 'marked reported');
  const failed = audit.events.find((e) => e.type === 'rotation.failed')!;
  t.equal(failed.eventId, 4051);
  t.equal(told.length, 1, 'the failure channels are told once');
  t.match(told[0], { ruleId: 'r1', event: { type: 'rotation.failed', accessType: 'LocalAdminPasswordRotation', eventId: 4051, id: failed.id, reason: 'INC-1', outcome: { success: false, message: /PC-0001.*PrivilegedOperations/ } } });
  t.equal(await service.whyNot(device(2)), NO_PERMISSION, 'the next read says so without asking Intune');
  t.equal(calls.mayRotate, 0);
});

t.test('a device Intune does not manage: the job fails saying so, and reads are told before any job', async (t) => {
  const { service, jobs, calls, clock } = setUp({ findManagedDevice: async () => undefined });
  t.equal(await service.whyNot(device(1)), NOT_MANAGED('PC-0001'));
  t.equal(await service.whyNot(device(1)), NOT_MANAGED('PC-0001'));
  t.equal(calls.find, 1, 'remembered for a while');
  service.start();
  await service.schedule({ device: device(1), trigger: 'onDemand', dueAt: clock.now(), actor });
  await service.idle();
  t.match(jobs.jobs[0], { status: 'failed', lastError: NOT_MANAGED('PC-0001') });
  t.equal(calls.rotate, 0);
});

t.test('a tenant without the permission is told to reads; Intune that cannot be asked now is not a reason to say no', async (t) => {
  const denied = setUp({ mayRotate: async () => false });
  t.equal(await denied.service.whyNot(device(1)), NO_PERMISSION);
  const down = setUp({
    mayRotate: async () => {
      throw new GraphError('timeout', 'did not answer', { clientRequestId: 'c' });
    },
    findManagedDevice: async () => {
      throw new GraphError('throttled', '429', { status: 429, clientRequestId: 'c' });
    },
  });
  t.equal(await down.service.whyNot(device(1)), undefined);
  const cannotLook = setUp({
    findManagedDevice: async () => {
      throw new GraphError('forbidden', '403', { status: 403, clientRequestId: 'c', permission: 'DeviceManagementManagedDevices.Read.All' });
    },
  });
  t.match(await cannotLook.service.whyNot(device(1)), /DeviceManagementManagedDevices\.Read\.All/);
});

t.test('attempts are bounded: after the last, the job fails with what it met', async (t) => {
  const { service, jobs, calls, advance, clock, told } = setUp(
    {
      rotate: async () => {
        throw new GraphError('failed', 'Microsoft Graph answered 500', { status: 500, clientRequestId: 'c' });
      },
    },
    { maxAttempts: 3 },
  );
  service.start();
  await service.schedule({ device: device(1), trigger: 'onDemand', dueAt: clock.now(), actor });
  await service.idle();
  await advance(30_000);
  await advance(120_000);
  t.equal(calls.rotate, 3);
  t.match(jobs.jobs[0], { status: 'failed', attempts: 3, lastError: /gave up after 3 attempts: Microsoft Graph answered 500/ });
  t.equal(told.length, 1);
  await advance(3_600_000);
  t.equal(calls.rotate, 3, 'and then left alone');
});

t.test('a failure not reported before a restart is reported at the next start', async (t) => {
  const first = setUp();
  first.jobs.jobs.push({
    id: randomUUID(),
    tenantId: TENANT,
    deviceId: device(1).deviceId,
    deviceName: 'PC-0001',
    status: 'failed',
    trigger: 'afterRead',
    requestedBy: actor,
    createdAt: new Date(first.clock.now()).toISOString(),
    dueAt: new Date(first.clock.now()).toISOString(),
    attempts: 2,
    lastError: 'Intune refused',
  });
  first.service.start();
  await first.service.idle();
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(first.told.length, 1);
  t.ok(first.jobs.jobs[0]!.reportedAt);
  t.same(first.types(), ['rotation.failed']);
});

t.test('a store that cannot be asked (a database away) does not stop the worker: it looks again later', async (t) => {
  const { service, jobs, calls, clock, advance, errors } = setUp();
  await service.schedule({ device: device(1), trigger: 'onDemand', dueAt: clock.now() + 1_000, actor });
  const claimDue = jobs.claimDue.bind(jobs);
  let failures = 1;
  jobs.claimDue = async (...args) => {
    if (failures-- > 0) throw new Error('database-unreachable');
    return claimDue(...args);
  };
  service.start();
  await service.idle();
  t.equal(errors.length, 1, 'the failure is reported');
  await advance(30_000);
  t.equal(calls.rotate, 1, 'and the job is run at the next look');
});
