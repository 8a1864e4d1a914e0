/**
 * The state as one JSON file, read and written through lowdb with an adapter that makes every
 * acknowledged write durable, and a load that refuses (never resets) a file it cannot trust.
 */
import { constants } from 'node:fs';
import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createAjv } from '../common/ajv.js';
import { Low, type Adapter } from 'lowdb';
import { SCHEMA_VERSION, emptyState, fillAddedCollections, stateSchema, type State } from './state.js';
import type { DeepReadonly, Store } from './store.js';


/** The data file exists but cannot be used. The daemon stops with this message; the file is left as it is. */
export class StoreLoadError extends Error {
  constructor(readonly file: string, problem: string) {
    super(
      `The data file ${file} cannot be used: ${problem}. amsd has not changed it. ` +
        'Restore it from a backup, or move it away to start with an empty state.',
    );
    this.name = 'StoreLoadError';
  }
}

/**
 * lowdb adapter whose writes survive a power cut once they resolve: write a temporary file, fsync it,
 * rename it over the data file, fsync the directory so the rename itself is on disk.
 */
export class DurableJsonFile<T> implements Adapter<T> {
  constructor(readonly file: string) {}

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new StoreLoadError(this.file, (error as Error).message);
    }
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new StoreLoadError(this.file, `it is not valid JSON (${(error as Error).message})`);
    }
  }

  /**
   * Removes the temporary files (`.<name>.<pid>.tmp`, see `write`) that writes killed before their rename left behind (`kill -9`, a power
   * cut): each is a full copy of the data, and the data file is whole without them. Only this file's
   * own pattern, and only by the one process that owns the data directory (call it under its lock).
   * Returns the names removed.
   */
  async removeLeftoverTempFiles(): Promise<string[]> {
    const pattern = new RegExp(`^\\.${basename(this.file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.\\d+\\.tmp$`);
    let names: string[];
    try {
      names = await readdir(dirname(this.file));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const leftovers = names.filter((name) => pattern.test(name));
    for (const name of leftovers) await rm(join(dirname(this.file), name), { force: true });
    return leftovers;
  }

  async write(data: T): Promise<void> {
    await this.writeText(serializeState(data));
  }

  /** Writes text already serialized (and checked) by the caller. */
  async writeText(text: string): Promise<void> {
    const temp = join(dirname(this.file), `.${basename(this.file)}.${process.pid}.tmp`);
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temp, this.file);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    await syncDirectory(dirname(this.file));
  }
}

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

/** The state file's text: what is written, and what the next load reads back. */
function serializeState(data: unknown): string {
  return JSON.stringify(data, null, 2) + '\n';
}

/**
 * A change would have written a state the daemon refuses to load (a bug let a value through that the
 * state's schema does not allow). Nothing was written; the request that made it fails.
 */
export class StateCheckError extends Error {
  constructor(problems: string) {
    super(`The change was not written: the state it would leave does not match schema version ${SCHEMA_VERSION} (${problems}), so amsd could not load it again.`);
    this.name = 'StateCheckError';
  }
}

const ajv = createAjv({ allErrors: true, strict: true });
const validateState = ajv.compile<State>(stateSchema);

export interface OpenedStore {
  store: Store;
  /** True when the data file did not exist and was created with an empty state. */
  created: boolean;
  /** Temporary copies of the data file that interrupted writes had left, now removed. */
  removedTempFiles: string[];
}

export interface OpenJsonFileStoreOptions {
  /** The state a new data file is created with (default: an empty one). */
  initialState?: () => State;
}

/** Opens (or creates) the data file. Call it only while holding the data directory's lock. */
export async function openJsonFileStore(file: string, options: OpenJsonFileStoreOptions = {}): Promise<OpenedStore> {
  const adapter = new DurableJsonFile<State>(file);
  const removedTempFiles = await adapter.removeLeftoverTempFiles();
  const db = new Low<State>(adapter, emptyState());
  const raw: unknown = await db.adapter.read();
  const created = raw === null;
  if (created) {
    if (options.initialState) db.data = options.initialState();
    await db.write();
  } else {
    checkLoadedState(file, raw);
    db.data = raw;
  }
  return { store: new JsonFileStore(db, adapter), created, removedTempFiles };
}

function checkLoadedState(file: string, raw: unknown): asserts raw is State {
  const version = (raw as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (typeof version === 'number' && version > SCHEMA_VERSION) {
    throw new StoreLoadError(
      file,
      `it was written by a newer amsd (schema version ${version}; this amsd understands up to ${SCHEMA_VERSION})`,
    );
  }
  fillAddedCollections(raw);
  if (!validateState(raw)) throw new StoreLoadError(file, `its content does not match schema version ${SCHEMA_VERSION}: ${stateProblems()}`);
}

function stateProblems(): string {
  return (validateState.errors ?? [])
    .slice(0, 5)
    .map((e) => `${e.instancePath || '(top level)'} ${e.message ?? 'is invalid'}`)
    .join('; ');
}

class JsonFileStore implements Store {
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(
    private readonly db: Low<State>,
    private readonly adapter: DurableJsonFile<State>,
  ) {}

  get state(): DeepReadonly<State> {
    return this.db.data;
  }

  mutate<T>(change: (draft: State) => T, beforeCommit?: (result: T) => Promise<void>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('The store is closed'));
    const run = async () => {
      const draft = structuredClone(this.db.data);
      const result = change(draft);
      // The state is checked as the next start will read it (JSON turns Infinity and NaN into null),
      // before the change is audited or written: a bug becomes a refused request, never a daemon that
      // cannot start.
      const text = serializeState(draft);
      if (!validateState(JSON.parse(text))) throw new StateCheckError(stateProblems());
      if (beforeCommit) await beforeCommit(result);
      await this.adapter.writeText(text);
      this.db.data = draft;
      return result;
    };
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
  }
}
