/**
 * The embedded store: a snapshot of the state in one JSON file (lowdb, written atomically and
 * durably), and a change journal beside it that makes each change durable on its own (journal.ts):
 * a change appends one fsynced line naming the rows and documents it writes, never the whole state.
 * The journal is folded into the snapshot in the background every FOLD_EVERY_CHANGES changes (or
 * FOLD_EVERY_BYTES), and on close; a start replays what was not folded yet.
 *
 * In memory, each row collection is a Map that never leaves the store: readers get rows (immutable:
 * a change puts a new object) or a collection's array, made once per version of the collection and
 * never changed after. A committed change updates the maps in place, only after its journal line is
 * durable, so a failed change touches nothing, and a write costs the rows it writes, not the
 * collection (copying a map of 10,000 rules per write cost ~1.5 ms).
 */
import { Low } from 'lowdb';
import { SerialQueue } from '../common/serial.js';
import { removeLeftoverTempFiles } from '../common/durable-files.js';
import { JournalWriter, journalFileOf, type JournalIo } from './journal.js';
import { StoreDraft } from './draft.js';
import { SnapshotFile, StoreLoadError, applyOperation, loadStateFiles, toState, type DocumentValues, type LoadedState, type RowMaps } from './state-files.js';
import { emptyState, type State } from './state.js';
import {
  DOCUMENT_NAMES,
  ROW_COLLECTIONS,
  type CollectionName,
  type CommittedChange,
  type DeepReadonly,
  type Draft,
  type Operation,
  type RowCollection,
  type Rows,
  type StateView,
  type Store,
} from './store.js';

export { StoreLoadError } from './state-files.js';
export { StateCheckError } from './record-checks.js';

/** Fold the journal into the snapshot after this many changes, or this many bytes of journal. */
export const FOLD_EVERY_CHANGES = 1000;
export const FOLD_EVERY_BYTES = 4 * 1024 * 1024;

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
  /** Fold thresholds (tests: small ones). */
  foldEveryChanges?: number;
  foldEveryBytes?: number;
  /** Characters of the snapshot serialised between two turns of the event loop (tests: small). */
  foldPieceChars?: number;
  /** Replaces the journal's file operations (tests: a disk that fails on demand). */
  journalIo?: Partial<JournalIo>;
  /** Called when a fold is complete (snapshot written, journal entries dropped), with the revision it holds. */
  onFolded?: (revision: number) => void;
  /** A subscriber threw, or a background fold failed: the change itself is committed. */
  onError?: (error: unknown) => void;
}

/** Opens (or creates) the data file. Call it only while holding the data directory's lock. */
export async function openJsonFileStore(file: string, options: OpenJsonFileStoreOptions = {}): Promise<OpenedStore> {
  const journalFile = journalFileOf(file);
  const removedTempFiles = [...(await removeLeftoverTempFiles(file)), ...(await removeLeftoverTempFiles(journalFile))];
  const db = new Low<State>(new SnapshotFile(file, options.foldPieceChars), emptyState());
  let loaded = await loadStateFiles(file);
  const created = loaded === null;
  if (!loaded) {
    // A new data file: no journal can hold anything yet (loadStateFiles refuses one that does).
    db.data = { ...(options.initialState?.() ?? emptyState()), revision: 0 };
    await db.write();
    loaded = await loadStateFiles(file);
    if (!loaded) throw new StoreLoadError(file, 'it could not be read back after it was created');
  }
  const journal = await JournalWriter.open(journalFile, loaded.journal, options.journalIo);
  const store = new JsonFileStore(db, journal, loaded, options);
  return { store, created, removedTempFiles };
}

class JsonFileStore implements Store {
  readonly #queue = new SerialQueue();
  readonly #listeners = new Set<(change: CommittedChange) => void>();
  readonly #arrays = new Map<RowCollection, readonly unknown[]>();
  readonly #view: StateView;
  #closed = false;
  #folding: Promise<void> | undefined;
  /** The revision the snapshot on disk holds, and the one a fold that failed started at. */
  #folded: number;
  #foldFailedAt = -Infinity;
  private readonly rows: RowMaps;
  private documents: DocumentValues;
  private currentRevision: number;
  private readonly versions: Record<CollectionName, number>;

  constructor(
    private readonly db: Low<State>,
    private readonly journal: JournalWriter,
    loaded: LoadedState,
    private readonly options: OpenJsonFileStoreOptions,
  ) {
    this.rows = loaded.rows;
    this.documents = loaded.documents;
    this.currentRevision = loaded.revision;
    this.versions = loaded.versions;
    this.#folded = loaded.snapshotRevision;
    const view = {};
    for (const collection of ROW_COLLECTIONS) Object.defineProperty(view, collection, { enumerable: true, get: () => this.#rowsOf(collection) });
    for (const name of DOCUMENT_NAMES) Object.defineProperty(view, name, { enumerable: true, get: () => this.documents[name] });
    this.#view = view as StateView;
  }

  get state(): StateView {
    return this.#view;
  }

  get revision(): number {
    return this.currentRevision;
  }

  version(collection: CollectionName): number {
    return this.versions[collection];
  }

  get<C extends RowCollection>(collection: C, key: string): DeepReadonly<Rows[C]> | undefined {
    return this.rows[collection].get(key);
  }

  /** A collection's rows as an array, made once per version of the collection. */
  #rowsOf<C extends RowCollection>(collection: C): ReadonlyArray<DeepReadonly<Rows[C]>> {
    let rows = this.#arrays.get(collection);
    if (!rows) this.#arrays.set(collection, (rows = [...this.rows[collection].values()]));
    return rows as ReadonlyArray<DeepReadonly<Rows[C]>>;
  }

  subscribe(listener: (change: CommittedChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  mutate<T>(change: (draft: Draft) => T, beforeCommit?: (result: T) => Promise<void>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('The store is closed'));
    return this.#queue.run(async () => {
      const draft = new StoreDraft(this.rows, this.documents, (c) => this.#rowsOf(c));
      const result = change(draft);
      // Checked before the change is audited or written: a bug becomes a refused request, never a daemon that cannot start.
      const { ops, json } = draft.operations();
      if (beforeCommit) await beforeCommit(result);
      if (ops.length === 0) return result;
      const revision = this.currentRevision + 1;
      await this.journal.append(revision, json);
      this.#apply(revision, ops);
      this.#maybeFold();
      return result;
    });
  }

  /**
   * Makes a written change current, in place and synchronously (no reader sees half of it); the
   * documents object (two fields) is replaced whole.
   */
  #apply(revision: number, ops: Operation[]): void {
    const documents = { ...this.documents };
    const changed = new Map<CollectionName, { version: number; keys: string[] }>();
    for (const op of ops) {
      let entry = changed.get(op.collection);
      if (!entry) changed.set(op.collection, (entry = { version: revision, keys: [] }));
      if (op.op !== 'set') entry.keys.push(op.key);
      applyOperation(this.rows, documents, op);
    }
    this.documents = documents;
    this.currentRevision = revision;
    for (const name of changed.keys()) {
      this.versions[name] = revision;
      this.#arrays.delete(name as RowCollection);
    }
    const notice: CommittedChange = { revision, collections: changed };
    for (const listener of this.#listeners) {
      try {
        listener(notice);
      } catch (error) {
        this.options.onError?.(error);
      }
    }
  }

  #maybeFold(): void {
    if (this.#folding) return;
    const changes = this.options.foldEveryChanges ?? FOLD_EVERY_CHANGES;
    const bytes = this.options.foldEveryBytes ?? FOLD_EVERY_BYTES;
    if (this.currentRevision - this.#folded < changes && this.journal.bytes < bytes) return;
    // After a failed fold (a full disk), the next try waits for as many changes again: not one per change.
    if (this.currentRevision - this.#foldFailedAt < changes) return;
    const startedAt = this.currentRevision;
    this.#folding = this.#fold()
      .catch((error: unknown) => {
        this.#foldFailedAt = startedAt;
        this.options.onError?.(error);
      })
      .finally(() => (this.#folding = undefined));
  }

  /**
   * Writes the state as it is now into the snapshot (changes keep coming meanwhile: the maps taken
   * here are never changed), then drops the journal's entries it holds.
   */
  async #fold(): Promise<void> {
    const revision = this.currentRevision;
    if (revision === this.#folded && this.journal.entries === 0) return;
    this.db.data = toState(this.rows, this.documents, revision);
    await this.db.write();
    this.#folded = revision;
    await this.#queue.run(() => this.journal.dropThrough(revision));
    this.options.onFolded?.(revision);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue.idle();
    await this.#folding;
    // Every change is in the journal already: a fold that fails here only leaves more to replay at the next start.
    await this.#fold().catch((error: unknown) => this.options.onError?.(error));
    await this.journal.close();
  }
}
