/**
 * One daemon per data directory: two writers on one JSON file would corrupt it. The lock is a file
 * created exclusively; a lock left by a process that no longer runs (a crash) is taken over.
 */
import { hostname } from 'node:os';
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

export class DataDirLockedError extends Error {
  constructor(readonly dataDir: string, holder: LockInfo | undefined) {
    super(
      holder
        ? `Another amsd (pid ${holder.pid} on ${holder.host}, started ${holder.startedAt}) is using the data directory ${dataDir}. ` +
            'Stop it first, or give this one another --data-dir.'
        : `Another amsd is using the data directory ${dataDir} (its lock file cannot be read). Stop it first, or give this one another --data-dir.`,
    );
    this.name = 'DataDirLockedError';
  }
}

interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
}

export interface DataDirLock {
  release(): Promise<void>;
}

export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const file = join(dataDir, 'amsd.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      const info: LockInfo = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
      await handle.writeFile(JSON.stringify(info) + '\n');
      await handle.close();
      let released = false;
      return {
        async release() {
          if (released) return;
          released = true;
          await rm(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = await readLock(file);
      if (holder && isStale(holder)) {
        await rm(file, { force: true });
        continue;
      }
      throw new DataDirLockedError(dataDir, holder);
    }
  }
  throw new DataDirLockedError(dataDir, await readLock(file));
}

async function readLock(file: string): Promise<LockInfo | undefined> {
  try {
    const info = JSON.parse(await readFile(file, 'utf8')) as LockInfo;
    return typeof info.pid === 'number' ? info : undefined;
  } catch {
    return undefined;
  }
}

/** A lock is stale when it was taken on this host by a process that is gone. */
function isStale(holder: LockInfo): boolean {
  if (holder.host !== hostname()) return false;
  if (holder.pid === process.pid) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
