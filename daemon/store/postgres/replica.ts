/**
 * The PostgreSQL store's copy of the state in memory, so that reads stay synchronous as the Store
 * interface requires. It is changed only by applying a change the database committed (one made
 * here, or one another daemon made), synchronously and in place as the embedded store does, and every
 * applied change is announced to subscribers the same way, whoever made it.
 */
import { StoreDraft } from '../draft.js';
import type { DocumentValues, RowMaps } from '../state-files.js';
import {
  DOCUMENT_NAMES,
  ROW_COLLECTIONS,
  type CollectionName,
  type CommittedChange,
  type DeepReadonly,
  type DocumentName,
  type RowCollection,
  type Rows,
  type StateView,
} from '../store.js';

/** One row or document as a change left it: `undefined` value on a row is a delete. */
export type Update =
  | { collection: RowCollection; key: string; value: unknown }
  | { collection: DocumentName; value: unknown };

/** The whole state as read from the database in one snapshot. */
export interface LoadedState {
  revision: number;
  versions: Record<CollectionName, number>;
  rows: { [C in RowCollection]: [string, unknown][] };
  documents: DocumentValues;
}

const isRowCollection = (name: CollectionName): name is RowCollection => (ROW_COLLECTIONS as readonly string[]).includes(name);

export class Replica {
  readonly #listeners = new Set<(change: CommittedChange) => void>();
  readonly #arrays = new Map<RowCollection, readonly unknown[]>();
  readonly view: StateView;
  readonly rows: RowMaps;
  documents: DocumentValues;
  revision: number;
  readonly versions: Record<CollectionName, number>;

  constructor(loaded: LoadedState, private readonly onError: (error: unknown) => void) {
    this.rows = Object.fromEntries(ROW_COLLECTIONS.map((c) => [c, new Map(loaded.rows[c])])) as unknown as RowMaps;
    this.documents = { ...loaded.documents };
    this.revision = loaded.revision;
    this.versions = { ...loaded.versions };
    const view = {};
    for (const collection of ROW_COLLECTIONS) Object.defineProperty(view, collection, { enumerable: true, get: () => this.rowsOf(collection) });
    for (const name of DOCUMENT_NAMES) Object.defineProperty(view, name, { enumerable: true, get: () => this.documents[name] });
    this.view = view as StateView;
  }

  /** A collection's rows as an array, made once per version of the collection. */
  rowsOf<C extends RowCollection>(collection: C): ReadonlyArray<DeepReadonly<Rows[C]>> {
    let rows = this.#arrays.get(collection);
    if (!rows) this.#arrays.set(collection, (rows = [...this.rows[collection].values()]));
    return rows as ReadonlyArray<DeepReadonly<Rows[C]>>;
  }

  draft(): StoreDraft {
    return new StoreDraft(this.rows, this.documents, (c) => this.rowsOf(c));
  }

  subscribe(listener: (change: CommittedChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Makes a committed change current and tells the subscribers: `updates` are the rows and documents
   * it left, `versions` the new version of each collection it changed.
   */
  apply(revision: number, updates: readonly Update[], versions: ReadonlyMap<CollectionName, number>): void {
    const documents = { ...this.documents };
    const changed = new Map<CollectionName, { version: number; keys: string[] }>();
    for (const [name, version] of versions) changed.set(name, { version, keys: [] });
    for (const update of updates) {
      const entry = changed.get(update.collection);
      if (isRowCollection(update.collection)) {
        const { key, value } = update as { key: string; value: unknown };
        entry?.keys.push(key);
        const rows = this.rows[update.collection] as Map<string, unknown>;
        if (value === undefined) rows.delete(key);
        else rows.set(key, value);
      } else {
        (documents as Record<string, unknown>)[update.collection] = update.value;
      }
    }
    this.documents = documents;
    this.revision = revision;
    for (const [name, { version }] of changed) {
      this.versions[name] = version;
      this.#arrays.delete(name as RowCollection);
    }
    this.#announce({ revision, collections: changed });
  }

  /**
   * Replaces the whole state with one read afresh (after a reconnect, or when the change log no longer
   * reaches back far enough), announcing every collection whose version moved, with every key it had
   * or has: a subscriber that updates by key (the rule index) ends up right.
   */
  replace(loaded: LoadedState): void {
    const changed = new Map<CollectionName, { version: number; keys: string[] }>();
    for (const collection of ROW_COLLECTIONS) {
      if (loaded.versions[collection] === this.versions[collection]) continue;
      const rows = this.rows[collection] as Map<string, unknown>;
      const keys = new Set([...rows.keys(), ...loaded.rows[collection].map(([key]) => key)]);
      rows.clear();
      for (const [key, value] of loaded.rows[collection]) rows.set(key, value);
      changed.set(collection, { version: loaded.versions[collection], keys: [...keys] });
    }
    for (const name of DOCUMENT_NAMES) {
      if (loaded.versions[name] !== this.versions[name]) changed.set(name, { version: loaded.versions[name], keys: [] });
    }
    this.documents = { ...loaded.documents };
    this.revision = loaded.revision;
    for (const [name, { version }] of changed) {
      this.versions[name] = version;
      this.#arrays.delete(name as RowCollection);
    }
    if (changed.size > 0) this.#announce({ revision: loaded.revision, collections: changed });
  }

  #announce(notice: CommittedChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(notice);
      } catch (error) {
        this.onError(error);
      }
    }
  }
}
