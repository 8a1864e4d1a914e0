/**
 * The rotation jobs in the data directory: the contract (job-store-contract.ts), and what only the file
 * does: a file that cannot be trusted stops the daemon naming it and is left as it was, temporary
 * copies left by a kill are removed, a restart ends every lease.
 */
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { FileRotationJobStore, RotationJobsLoadError, rotationJobsFilePath } from '../../daemon/rotation/file-jobs.js';
import { tempDir } from '../helpers.js';
import { MINUTE, T0, at, newJob, rotationJobStoreContract, type OpenOptions } from './job-store-contract.js';

async function jobsFile(t: Test): Promise<string> {
  return rotationJobsFilePath(await tempDir(t, 'amsd-rotations-'));
}

const open = (file: string, options: OpenOptions = {}) => FileRotationJobStore.open({ file, ...options });

rotationJobStoreContract(t, 'the jobs file', async (t, options) => {
  const file = await jobsFile(t);
  return { store: await open(file, options), reopen: () => open(file, options) };
});

t.test('the file is in <dataDir>/rotations, versioned, one job a line, and holds each change once it resolves', async (t) => {
  const dir = await tempDir(t, 'amsd-rotations-');
  const file = rotationJobsFilePath(dir);
  t.equal(file, join(dir, 'rotations', 'jobs.json'));
  const store = await open(file);
  t.same(await readdir(dir), ['rotations'], 'the directory is made; no file before the first job');
  const { job } = await store.schedule(newJob('dev-1'));
  const text = await readFile(file, 'utf8');
  t.same(JSON.parse(text), { version: 1, jobs: [job] });
  t.equal(text, `{"version":1,"jobs":[\n${JSON.stringify(job)}\n]}\n`);
  await store.update(job.id, { status: 'done', completedAt: at(T0 + MINUTE) });
  t.same(JSON.parse(await readFile(file, 'utf8')).jobs[0].status, 'done');

  const asked = store.schedule(newJob('dev-2'));
  await store.idle();
  t.equal(JSON.parse(await readFile(file, 'utf8')).jobs.length, 2, 'idle: the changes asked for are written');
  t.equal((await asked).created, true);
});

const badFiles: [string, string, RegExp][] = [
  ['that is not JSON', '{"version":1,"jobs":[', /it is not valid JSON/],
  ['of a newer amsd', '{"version":2,"jobs":[]}', /written by a newer amsd \(jobs file version 2; this amsd understands up to 1\)/],
  ['with a job of an unknown status', JSON.stringify({ version: 1, jobs: [{ ...newJob('dev-1'), id: 'j1', status: 'later', attempts: 0 }] }), /\/jobs\/0\/status must be equal to one of the allowed values/],
  ['with a job without its due time', JSON.stringify({ version: 1, jobs: [{ ...newJob('dev-1'), id: 'j1', status: 'pending', attempts: 0, dueAt: undefined }] }), /\/jobs\/0 must have required property 'dueAt'/],
  ['with two jobs of one id', JSON.stringify({ version: 1, jobs: ['dev-1', 'dev-2'].map((d) => ({ ...newJob(d), id: 'j1', status: 'done', attempts: 1 })) }), /\/jobs\/1 has the id j1 of an earlier job/],
  [
    'with two pending jobs for one device',
    JSON.stringify({ version: 1, jobs: ['j1', 'j2'].map((id) => ({ ...newJob('dev-1'), id, status: 'pending', attempts: 0 })) }),
    /\/jobs\/1 is a second pending job for the device dev-1 of tenant tenant-a/,
  ],
];

for (const [what, content, problem] of badFiles) {
  t.test(`a file ${what} is refused, naming the file and the problem, and left as it was`, async (t) => {
    const file = await jobsFile(t);
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, content);
    const error = await open(file).then(() => undefined, (e: unknown) => e);
    t.type(error, RotationJobsLoadError);
    t.match((error as Error).message, `The password rotation jobs ${file} cannot be used: `);
    t.match((error as Error).message, problem);
    t.match((error as Error).message, /amsd has not changed it: it holds password rotations not yet made/);
    t.equal(await readFile(file, 'utf8'), content, 'unchanged');
  });
}

t.test('temporary copies left by a write that was killed are removed when the file is opened; the file is kept', async (t) => {
  const file = await jobsFile(t);
  const first = await open(file);
  const { job } = await first.schedule(newJob('dev-1'));
  const dir = join(file, '..');
  await writeFile(join(dir, '.jobs.json.4242.tmp'), '{"version":1,"jobs":[{"half": ');
  await writeFile(join(dir, '.other.json.4242.tmp'), 'not ours');
  const again = await open(file);
  t.same((await readdir(dir)).sort(), ['.other.json.4242.tmp', 'jobs.json'], 'only the jobs file\'s own temporary copies');
  t.same(await again.list(), [job]);
});

t.test('a restart ends every lease: the job a dead process claimed is claimed again at once', async (t) => {
  const file = await jobsFile(t);
  const first = await open(file);
  const { job } = await first.schedule(newJob('dev-1'));
  const now = T0 + 2 * MINUTE;
  t.equal((await first.claimDue(now, 10, 60 * MINUTE)).length, 1);
  t.same(await first.claimDue(now, 10, 60 * MINUTE), []);
  const restarted = await open(file);
  t.same((await restarted.claimDue(now, 10, 60 * MINUTE)).map((j) => j.id), [job.id]);
});

t.test('changes are made one at a time, in the order asked: many schedules at once make one job per device', async (t) => {
  const file = await jobsFile(t);
  const store = await open(file);
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.schedule(newJob(`dev-${i % 4}`, { dueAt: at(T0 + (20 - i) * MINUTE) }))));
  t.equal(results.filter((r) => r.created).length, 4, 'one created per device');
  const jobs = await (await open(file)).list();
  t.equal(jobs.length, 4);
  for (const job of jobs) {
    // Device d was last asked for by i = 16 + d, the earliest: due at 20 - i minutes.
    const d = Number(job.deviceId.slice('dev-'.length));
    t.equal(job.dueAt, at(T0 + (4 - d) * MINUTE), `${job.deviceId}: due at the earliest time asked for`);
  }
});

t.test('a change that cannot be written is not made: the store answers as the file does', async (t) => {
  const file = await jobsFile(t);
  const store = await open(file);
  const { job } = await store.schedule(newJob('dev-1', { dueAt: at(T0 + 10 * MINUTE) }));
  // The directory's place taken by a file: the temporary file cannot be made (as root, a mode would not stop it).
  const dir = join(file, '..');
  const moved = `${dir}.away`;
  await rename(dir, moved);
  await writeFile(dir, 'in the way');
  await t.rejects(store.schedule(newJob('dev-2')), { code: 'ENOTDIR' });
  await t.rejects(store.schedule(newJob('dev-1', { dueAt: at(T0) })), { code: 'ENOTDIR' });
  await t.rejects(store.update(job.id, { status: 'done', completedAt: at(T0) }), { code: 'ENOTDIR' });
  t.same(await store.list(), [job], 'nothing changed');
  await rm(dir);
  await rename(moved, dir);
  const created = await store.schedule(newJob('dev-2', { createdAt: at(T0 + MINUTE) }));
  t.equal(created.created, true, 'works again once the file can be written');
  t.same((await open(file).then((s) => s.list())).map((j) => j.deviceId), ['dev-2', 'dev-1']);
});
