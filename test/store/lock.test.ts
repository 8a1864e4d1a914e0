import t from 'tap';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataDirLockedError, lockDataDir } from '../../daemon/store/lock.js';
import { tempDir } from '../helpers.js';

t.test('one holder at a time; released locks can be taken again', async (t) => {
  const dir = await tempDir(t);
  const lock = await lockDataDir(dir);
  const info = JSON.parse(await readFile(join(dir, 'amsd.lock'), 'utf8'));
  t.equal(info.pid, process.pid);
  const error = await lockDataDir(dir).then(() => undefined, (e: unknown) => e);
  t.type(error, DataDirLockedError);
  t.match((error as Error).message, new RegExp(`Another amsd \\(pid ${process.pid} on .*is using the data directory ${dir}`));
  await lock.release();
  const again = await lockDataDir(dir);
  await again.release();
});

t.test('a lock left by a process that is gone is taken over', async (t) => {
  const dir = await tempDir(t);
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  const deadPid = Number(gone.stdout.toString());
  await writeFile(join(dir, 'amsd.lock'), JSON.stringify({ pid: deadPid, host: hostname(), startedAt: '2026-01-01T00:00:00Z' }));
  const lock = await lockDataDir(dir);
  t.equal(JSON.parse(await readFile(join(dir, 'amsd.lock'), 'utf8')).pid, process.pid);
  await lock.release();
});

t.test('a lock from another host is never taken over', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'amsd.lock'), JSON.stringify({ pid: 1, host: 'other-host', startedAt: '2026-01-01T00:00:00Z' }));
  await t.rejects(lockDataDir(dir), /pid 1 on other-host/);
});
