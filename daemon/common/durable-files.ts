/**
 * Files that survive a power cut once a write resolves, and JSON files loaded only when they can be
 * trusted. The one copy of these helpers: the store, the notification queue and the audit trail use it.
 */
import { constants, writeSync } from 'node:fs';
import { open, readFile, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Makes a directory's entries (a created or renamed file's name) durable. */
export async function syncDirectory(dir: string): Promise<void> {
  // Directories cannot be opened for fsync on Windows; there, creating or renaming is as far as durability goes.
  if (process.platform === 'win32') return;
  const handle = await open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The temporary file `atomicWrite` writes `file`'s new content to: `.<name>.<pid>.tmp` beside it. */
export function tempFileOf(file: string): string {
  return join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
}

/**
 * Replaces `file` with `content` so that, after a crash at any moment, it holds either the old or
 * the new content, and the new one once this resolves: write a temporary file, fsync it, rename it
 * over `file`, fsync the directory so the rename itself is on disk. `content` may be pieces made
 * while it is written (a large snapshot, made a piece at a time): one that throws leaves `file` as it was.
 */
export async function atomicWrite(file: string, content: string | Buffer | AsyncIterable<Buffer>, options: { temp?: string; mode?: number } = {}): Promise<void> {
  const temp = options.temp ?? tempFileOf(file);
  try {
    const handle = await open(temp, 'w', options.mode ?? 0o600);
    try {
      if (typeof content === 'string' || Buffer.isBuffer(content)) await handle.writeFile(content);
      else await writePieces(handle, content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true, recursive: false }).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dirname(file));
}

/** Writes the pieces one after another from the start of the file (a content made while it is written). */
async function writePieces(handle: FileHandle, pieces: AsyncIterable<Buffer>): Promise<void> {
  let position = 0;
  for await (const piece of pieces) {
    for (let done = 0; done < piece.length; ) {
      const { bytesWritten } = await handle.write(piece, done, piece.length - done, position);
      if (bytesWritten <= 0) throw new Error('the disk accepted no more bytes');
      done += bytesWritten;
      position += bytesWritten;
    }
  }
}

/**
 * Removes the temporary files (`.<name>.<pid>.tmp`) that writes killed before their rename left
 * beside `file` (`kill -9`, a power cut): each is a whole copy, and `file` is whole without them.
 * Only `file`'s own pattern, and only by the one process that owns the directory (under its lock).
 * Returns the names removed.
 */
export async function removeLeftoverTempFiles(file: string): Promise<string[]> {
  const pattern = new RegExp(`^\\.${basename(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.\\d+\\.tmp$`);
  let names: string[];
  try {
    names = await readdir(dirname(file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const leftovers = names.filter((name) => pattern.test(name));
  for (const name of leftovers) await rm(join(dirname(file), name), { force: true });
  return leftovers;
}

/** A file exists but cannot be used: `problem` says why. Callers wrap it in their own error, naming what the file holds. */
export class UntrustedFileError extends Error {
  constructor(readonly file: string, readonly problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'UntrustedFileError';
  }
}

export interface VersionedJsonOptions<T> {
  /** Where the version is: `schemaVersion`, `version`. */
  versionField: string;
  /** The highest version this amsd understands. */
  version: number;
  /** What the version is called in messages: "schema version", "queue version". */
  versionName: string;
  /** Mends what older files of the same version may lack, before the check. */
  upgrade?: (raw: unknown) => void;
  /** Checks the content; returns the problems (empty when it is good). */
  check: (raw: unknown) => raw is T;
  /** The problems `check` found, for the message. */
  problems: () => string;
}

/**
 * Reads a JSON file with a version: undefined when it does not exist; `UntrustedFileError` when it
 * cannot be read, is not JSON, was written by a newer amsd, or does not match its schema. The file
 * is never changed here.
 */
export async function loadVersionedJson<T>(file: string, options: VersionedJsonOptions<T>): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UntrustedFileError(file, (error as Error).message);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new UntrustedFileError(file, `it is not valid JSON (${(error as Error).message})`);
  }
  const version = (raw as Record<string, unknown> | null)?.[options.versionField];
  if (typeof version === 'number' && version > options.version) {
    throw new UntrustedFileError(file, `it was written by a newer amsd (${options.versionName} ${version}; this amsd understands up to ${options.version})`);
  }
  options.upgrade?.(raw);
  if (!options.check(raw)) throw new UntrustedFileError(file, `its content does not match ${options.versionName} ${options.version}: ${options.problems()}`);
  return raw;
}

/** The first few of ajv's errors, as one line. */
export function describeSchemaErrors(errors: readonly { instancePath: string; message?: string }[] | null | undefined, limit = 5): string {
  return (errors ?? [])
    .slice(0, limit)
    .map((e) => `${e.instancePath || '(top level)'} ${e.message ?? 'is invalid'}`)
    .join('; ');
}

/**
 * The file operations an append-only file (the audit trail, the store's journal) depends on. Swappable
 * because the failures that matter (a full disk halfway through a line, an fsync EIO) cannot be
 * produced on demand in a test any other way.
 */
export interface AppendFileIo {
  /** Writes `data` at `position`; resolves with the bytes written, which may be fewer. */
  write(handle: FileHandle, data: Buffer, position: number): Promise<number>;
  sync(handle: FileHandle): Promise<void>;
  truncate(handle: FileHandle, length: number): Promise<void>;
}

export const nodeAppendIo: AppendFileIo = {
  // A write to the page cache, on the event loop: a few µs, where handing it to libuv's thread pool
  // (handle.write) cost ~50 µs of CPU in thread wake-ups. The fdatasync that makes it durable blocks
  // for as long as the disk takes, so that one stays off the loop. `async`: a full disk (writeSync
  // throws) is a rejection, as it was from handle.write.
  write: async (handle, data, position) => writeSync(handle.fd, data, 0, data.length, position),
  // fdatasync: the data and the new file size, without the timestamps an fsync would also flush.
  sync: (handle) => handle.datasync(),
  truncate: (handle, length) => handle.truncate(length),
};
