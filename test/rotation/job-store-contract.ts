/**
 * What every RotationJobStore (daemon/rotation/rotation-jobs.ts) must do, whatever it keeps the jobs
 * in: run by file-jobs.test.ts on the data directory's file and by postgres-jobs.test.ts on the
 * PostgreSQL table. What only one backend does (a corrupt file; several daemons at once) is tested in
 * that backend's own file.
 */
import type { Test } from 'tap';
import { RotationJobCheckError, type RotationClock, type RotationRetention } from '../../daemon/rotation/job-checks.js';
import type { NewRotationJob, RotationJob, RotationJobStore } from '../../daemon/rotation/rotation-jobs.js';

export const T0 = Date.parse('2026-12-01T08:00:00.000Z');
export const MINUTE = 60_000;
export const at = (ms: number) => new Date(ms).toISOString();

export const reader = { kind: 'entra', id: 'user-1', displayName: 'Helpdesk One', userPrincipalName: 'one@contoso.example', role: 'user' } as const;

/** A job for `deviceId` in tenant-a, created at T0 and due a minute later unless told otherwise. */
export function newJob(deviceId: string, over: Partial<NewRotationJob> = {}): NewRotationJob {
  return {
    tenantId: 'tenant-a',
    deviceId,
    deviceName: `PC-${deviceId.toUpperCase()}`,
    trigger: 'afterRead',
    requestedBy: { ...reader },
    reason: 'ticket 42',
    ruleId: 'rule-1',
    auditEventId: 'event-1',
    createdAt: at(T0),
    dueAt: at(T0 + MINUTE),
    ...over,
  };
}

export interface OpenOptions {
  clock?: RotationClock;
  retention?: RotationRetention;
}

/** A new, empty store, and how to open another on what it keeps (a restart; another daemon). */
export interface Opened {
  store: RotationJobStore;
  reopen(): Promise<RotationJobStore>;
}

/** A clock the test moves by hand. */
export function manualClock(start = T0): RotationClock & { set(ms: number): void } {
  let now = start;
  return { now: () => now, set: (ms) => (now = ms) };
}

const ids = (jobs: readonly RotationJob[]) => jobs.map((j) => j.id);

/**
 * Registers the contract's tests on `t`. `open` gives a new, empty store for one test (closed in that
 * test's teardown); `options` are every test's options (a skip, say).
 */
export function rotationJobStoreContract(t: Test, backend: string, open: (t: Test, options?: OpenOptions) => Promise<Opened>, options: { skip?: string | false } = {}): void {
  const test = (name: string, body: (t: Test) => Promise<void>) => void t.test(`${backend}: ${name}`, options, body);

  test('schedule: a new pending job; the same device again is the same job, due at the earlier time', async (t) => {
    const { store } = await open(t);
    const first = await store.schedule(newJob('dev-1', { dueAt: at(T0 + 10 * MINUTE) }));
    t.equal(first.created, true);
    t.match(first.job, { tenantId: 'tenant-a', deviceId: 'dev-1', deviceName: 'PC-DEV-1', status: 'pending', trigger: 'afterRead', attempts: 0, dueAt: at(T0 + 10 * MINUTE), reason: 'ticket 42', requestedBy: reader });
    t.type(first.job.id, 'string');
    t.same(await store.get(first.job.id), first.job, 'stored as answered');

    const earlier = await store.schedule(newJob('dev-1', { dueAt: at(T0 + 5 * MINUTE), reason: 'a second read', createdAt: at(T0 + MINUTE) }));
    t.same([earlier.created, earlier.job.id, earlier.job.dueAt, earlier.job.reason, earlier.job.createdAt], [false, first.job.id, at(T0 + 5 * MINUTE), 'ticket 42', at(T0)], 'the pending job, its due time moved earlier, the rest as it was');
    const later = await store.schedule(newJob('dev-1', { dueAt: at(T0 + 20 * MINUTE) }));
    t.same([later.created, later.job.id, later.job.dueAt], [false, first.job.id, at(T0 + 5 * MINUTE)], 'a later due time does not move it');
    const upperCase = await store.schedule(newJob('DEV-1', { dueAt: at(T0 + 20 * MINUTE) }));
    t.same([upperCase.created, upperCase.job.id], [false, first.job.id], 'the device id is compared in lower case');
    t.same(await store.get(first.job.id), { ...first.job, dueAt: at(T0 + 5 * MINUTE) });

    const other = await store.schedule(newJob('dev-2'));
    const otherTenant = await store.schedule(newJob('dev-1', { tenantId: 'tenant-b' }));
    t.same([other.created, otherTenant.created], [true, true], 'another device, or the same device id in another tenant, is another job');
    t.equal(new Set([first.job.id, other.job.id, otherTenant.job.id]).size, 3);

    await store.update(first.job.id, { status: 'done', completedAt: at(T0 + 6 * MINUTE), attempts: 1 });
    const after = await store.schedule(newJob('dev-1', { createdAt: at(T0 + 7 * MINUTE), dueAt: at(T0 + 8 * MINUTE) }));
    t.equal(after.created, true, 'once the job is done, scheduling the device again makes a new job');
    t.not(after.job.id, first.job.id);
    t.same((await store.list({ deviceId: 'dev-1', tenantId: 'tenant-a' })).map((j) => [j.id, j.status]), [[after.job.id, 'pending'], [first.job.id, 'done']]);
  });

  test('schedule refuses a job it could not load again, and writes nothing', async (t) => {
    const { store } = await open(t);
    await t.rejects(store.schedule(newJob('dev-1', { dueAt: 'in a minute' })), RotationJobCheckError);
    await t.rejects(store.schedule(newJob('dev-1', { deviceName: '' })), /deviceName/);
    t.same(await store.list(), []);
  });

  test('claimDue: the due jobs, earliest due first, up to the limit; not one claimed again within its lease; again after it', async (t) => {
    const { store } = await open(t);
    const third = (await store.schedule(newJob('dev-3', { dueAt: at(T0 + 3 * MINUTE) }))).job;
    const first = (await store.schedule(newJob('dev-1', { dueAt: at(T0 + 1 * MINUTE) }))).job;
    const second = (await store.schedule(newJob('dev-2', { dueAt: at(T0 + 2 * MINUTE) }))).job;
    const notDue = (await store.schedule(newJob('dev-4', { dueAt: at(T0 + 60 * MINUTE) }))).job;
    const done = (await store.schedule(newJob('dev-5', { dueAt: at(T0) }))).job;
    await store.update(done.id, { status: 'done', completedAt: at(T0) });
    t.equal(await store.nextDueAt(), T0 + MINUTE, 'the earliest due of the pending jobs');

    const now = T0 + 5 * MINUTE;
    t.same(await store.claimDue(T0, 10, 1000), [], 'nothing is due at T0');
    t.same(ids(await store.claimDue(now, 2, 1000)), [first.id, second.id], 'earliest due first, at most the limit');
    t.same(ids(await store.claimDue(now, 10, 1000)), [third.id], 'the claimed ones are not given again');
    t.same(await store.claimDue(now + 999, 10, 1000), [], 'not within the lease');
    t.equal(await store.nextDueAt(), now + 1000, 'the claimed jobs are due again when their leases end');
    t.same(ids(await store.claimDue(now + 1000, 10, 1000)), [first.id, second.id, third.id], 'again once the lease is over');
    t.same(await store.claimDue(now + 1000, 0, 1000), [], 'a limit of 0 claims nothing');
    t.same(ids(await store.claimDue(now + 1500, 10, 1000)), [], 'the second lease holds too');
    t.same(ids(await store.claimDue(T0 + 60 * MINUTE, 10, 1000)), [first.id, second.id, third.id, notDue.id], 'a job is claimed once it is due (and the others\' leases are long over)');
    t.equal(await store.nextDueAt(), T0 + 60 * MINUTE + 1000);
  });

  test('update: changes the fields, ends the lease, removes a field given as undefined', async (t) => {
    const { store } = await open(t);
    const job = (await store.schedule(newJob('dev-1'))).job;
    const now = T0 + 2 * MINUTE;
    t.same(ids(await store.claimDue(now, 10, 60 * MINUTE)), [job.id]);
    const retry = await store.update(job.id, { attempts: 1, lastAttemptAt: at(now), lastError: 'Intune throttled the request', dueAt: at(now + MINUTE), managedDeviceId: 'md-1' });
    t.same(retry, { ...job, attempts: 1, lastAttemptAt: at(now), lastError: 'Intune throttled the request', dueAt: at(now + MINUTE), managedDeviceId: 'md-1' });
    t.same(await store.get(job.id), retry, 'as stored');
    t.same(await store.claimDue(now, 10, MINUTE), [], 'not due before its new due time');
    t.same(ids(await store.claimDue(now + MINUTE, 10, MINUTE)), [job.id], 'the update ended the lease: claimed again once due, well within the first lease');

    const done = await store.update(job.id, { status: 'done', attempts: 2, lastError: undefined, completedAt: at(now + MINUTE) });
    const { lastError: _lastError, ...withoutError } = retry!;
    t.same(done, { ...withoutError, status: 'done', attempts: 2, completedAt: at(now + MINUTE) });
    t.notOk('lastError' in done!, 'the field is gone');
    t.same(await store.get(job.id), done);
    t.equal(await store.nextDueAt(), undefined, 'no pending job: nothing due');

    t.equal(await store.update('no-such-job', { attempts: 1 }), undefined);
    await t.rejects(store.update(job.id, { status: 'pending' }), { name: 'RotationJobCheckError', message: /a finished job is not made pending again/ });
    await t.rejects(store.update(job.id, { completedAt: 'yesterday' }), RotationJobCheckError);
    t.same(await store.get(job.id), done, 'refused changes wrote nothing');
  });

  test('list: newest first, filtered by status, device name (any case), device id, tenant; at most the limit', async (t) => {
    const { store } = await open(t);
    const make = async (deviceId: string, minute: number, over: Partial<NewRotationJob> = {}) => (await store.schedule(newJob(deviceId, { createdAt: at(T0 + minute * MINUTE), ...over }))).job;
    const a = await make('dev-a', 1, { deviceName: 'Laptop-A' });
    const b = await make('dev-b', 2, { tenantId: 'tenant-b' });
    const c = await make('dev-c', 3);
    const d = await make('dev-d', 4, { deviceName: 'laptop-a' });
    await store.update(b.id, { status: 'done', completedAt: at(T0 + 5 * MINUTE) });
    await store.update(c.id, { status: 'failed', completedAt: at(T0 + 5 * MINUTE), lastError: 'not managed by Intune' });

    t.same(ids(await store.list()), [d.id, c.id, b.id, a.id], 'newest first');
    t.same(ids(await store.list({ status: 'pending' })), [d.id, a.id]);
    t.same(ids(await store.list({ status: 'failed' })), [c.id]);
    t.same(ids(await store.list({ deviceName: 'LAPTOP-a' })), [d.id, a.id], 'the name in any case, the whole name');
    t.same(await store.list({ deviceName: 'laptop' }), [], 'not a part of it');
    t.same(ids(await store.list({ deviceId: 'DEV-C' })), [c.id]);
    t.same(ids(await store.list({ tenantId: 'tenant-b' })), [b.id]);
    t.same(ids(await store.list({ tenantId: 'tenant-a', status: 'pending', deviceName: 'laptop-a' })), [d.id, a.id], 'filters combine');
    t.same(ids(await store.list({ limit: 2 })), [d.id, c.id]);
    t.same(await store.list({ limit: 0 }), []);
  });

  test('list: 100 jobs unless told otherwise', async (t) => {
    const { store } = await open(t);
    for (let i = 0; i < 101; i++) await store.schedule(newJob(`dev-${i}`, { createdAt: at(T0 + i * 1000) }));
    const listed = await store.list();
    t.equal(listed.length, 100);
    t.equal(listed[0]?.deviceId, 'dev-100', 'the newest');
    t.equal((await store.list({ limit: 500 })).length, 101);
  });

  test('unreported: the failed jobs not yet reported, oldest failure first', async (t) => {
    const { store } = await open(t);
    const make = async (deviceId: string) => (await store.schedule(newJob(deviceId))).job;
    const [a, b, c, d] = [await make('dev-a'), await make('dev-b'), await make('dev-c'), await make('dev-d')];
    await store.update(b.id, { status: 'failed', completedAt: at(T0 + 3 * MINUTE), lastError: 'offline for a week' });
    await store.update(a.id, { status: 'failed', completedAt: at(T0 + 4 * MINUTE), lastError: 'no permission' });
    await store.update(c.id, { status: 'done', completedAt: at(T0 + 2 * MINUTE) });
    t.same(ids(await store.unreported()), [b.id, a.id]);
    await store.update(b.id, { reportedAt: at(T0 + 5 * MINUTE) });
    t.same(ids(await store.unreported()), [a.id], 'a reported failure is not told again');
    t.match(await store.get(d.id), { status: 'pending' });
  });

  test('what a store holds is there when it is opened again', async (t) => {
    const opened = await open(t);
    const pending = (await opened.store.schedule(newJob('dev-1'))).job;
    const failed = (await opened.store.schedule(newJob('dev-2', { trigger: 'onDemand', ruleId: undefined }))).job;
    const changed = await opened.store.update(failed.id, { status: 'failed', attempts: 8, completedAt: at(T0 + MINUTE), lastError: 'Intune answered 503 eight times' });
    const again = await opened.reopen();
    t.same(await again.get(pending.id), pending);
    t.same(await again.list(), await opened.store.list());
    t.same(await again.unreported(), [changed]);
    t.equal(await again.nextDueAt(), T0 + MINUTE);
    const deduped = await again.schedule(newJob('dev-1', { dueAt: at(T0) }));
    t.same([deduped.created, deduped.job.id], [false, pending.id], 'the pending job is still the device\'s');
  });

  test('retention: the newest finished jobs and those of the last 30 days are kept; pending and unreported failed jobs always', async (t) => {
    const clock = manualClock(T0);
    const { store } = await open(t, { clock, retention: { maxFinished: 3 } });
    const make = async (deviceId: string) => (await store.schedule(newJob(deviceId))).job;
    const pending = await make('dev-pending');
    const unreported = await make('dev-failed');
    await store.update(unreported.id, { status: 'failed', completedAt: at(T0), lastError: 'offline' });
    const done: RotationJob[] = [];
    for (let i = 1; i <= 5; i++) {
      const job = await make(`dev-${i}`);
      done.push((await store.update(job.id, { status: 'done', completedAt: at(T0 + i * MINUTE) }))!);
    }
    const kept = async () => new Set(ids(await store.list({ limit: 1000 })));
    t.same(await kept(), new Set([pending.id, unreported.id, done[4]!.id, done[3]!.id, done[2]!.id]), 'the newest 3 finished jobs, and the pending and the unreported failed one');

    await store.update(unreported.id, { reportedAt: at(T0 + 6 * MINUTE) });
    t.same(await kept(), new Set([pending.id, done[4]!.id, done[3]!.id, done[2]!.id]), 'once reported, the failed job is one of the oldest, so it goes');

    // A month on: finished jobs older than 30 days go at the next job that finishes.
    clock.set(T0 + 31 * 24 * 60 * MINUTE);
    const oldFailure = await make('dev-old');
    await store.update(oldFailure.id, { status: 'failed', completedAt: at(T0 + 7 * MINUTE), lastError: 'offline' });
    const recent = await make('dev-recent');
    await store.update(recent.id, { status: 'done', completedAt: at(clock.now()) });
    t.same(await kept(), new Set([pending.id, oldFailure.id, recent.id]), 'what finished a month ago is gone; pending and unreported stay whatever their age');
  });
}
