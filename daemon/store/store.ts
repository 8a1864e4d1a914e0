/**
 * The store the rest of the daemon uses. Its state is named collections, each with a version: keyed
 * rows (API keys, tenants, rules, channels) and single documents (settings, the audit trail's record).
 * A change is a set of operations on them (put or delete a row by its key, set a document) made
 * durable in one step; subscribers are told which collections and keys it changed. Two backends:
 * json-file-store.ts (a lowdb snapshot and a change journal, one daemon per data directory) and
 * postgres/postgres-store.ts (a table per collection, a change per transaction, shared by several
 * daemons: each one's subscribers are also told of the changes the others made).
 */
import type { ApiKeyRecord, AuditTrailRecord, ChannelRecord, RuleRecord, SettingsRecord, TenantRecord } from './records.js';

export type DeepReadonly<T> = T extends (infer U)[]
  ? ReadonlyArray<DeepReadonly<U>>
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** The row collections and the record type of their rows. */
export interface Rows {
  apiKeys: ApiKeyRecord;
  tenants: TenantRecord;
  rules: RuleRecord;
  channels: ChannelRecord;
}
/** The single documents and their types (`undefined`: not set). */
export interface Documents {
  settings: SettingsRecord;
  auditTrail: AuditTrailRecord | undefined;
}
export type RowCollection = keyof Rows;
export type DocumentName = keyof Documents;
export type CollectionName = RowCollection | DocumentName;

/** The field of each row collection that is its key. */
export const ROW_KEYS = { apiKeys: 'id', tenants: 'tenantId', rules: 'id', channels: 'id' } as const satisfies { [C in RowCollection]: keyof Rows[C] };
export const ROW_COLLECTIONS = Object.keys(ROW_KEYS) as RowCollection[];
export const DOCUMENT_NAMES: readonly DocumentName[] = ['settings', 'auditTrail'];

export function rowKey<C extends RowCollection>(collection: C, row: DeepReadonly<Rows[C]>): string {
  return (row as unknown as Record<string, string>)[ROW_KEYS[collection]]!;
}

/** One operation of a change, as the journal records it. */
export type Operation =
  | { [C in RowCollection]: { op: 'put'; collection: C; key: string; value: Rows[C] } }[RowCollection]
  | { op: 'delete'; collection: RowCollection; key: string }
  | { [D in DocumentName]: { op: 'set'; collection: D; value: Documents[D] } }[DocumentName];

/** The state, read-only and synchronous: each collection's rows (in the order they were added) and the documents. */
export type StateView = { readonly [C in RowCollection]: ReadonlyArray<DeepReadonly<Rows[C]>> } & {
  readonly [D in DocumentName]: DeepReadonly<Documents[D]>;
};

/**
 * What a change sees and does: reads show the change's own operations so far; writes are recorded,
 * and made (all of them, or none) only when the change is committed. Rows read are never modified
 * in place: `put` a changed copy.
 */
export interface Draft {
  rows<C extends RowCollection>(collection: C): ReadonlyArray<DeepReadonly<Rows[C]>>;
  get<C extends RowCollection>(collection: C, key: string): DeepReadonly<Rows[C]> | undefined;
  /** Adds the row, or replaces the row with its key. */
  put<C extends RowCollection>(collection: C, row: Rows[C] | DeepReadonly<Rows[C]>): void;
  /** Removes the row with this key; false when there was none. */
  delete(collection: RowCollection, key: string): boolean;
  document<D extends DocumentName>(name: D): DeepReadonly<Documents[D]>;
  set<D extends DocumentName>(name: D, value: Documents[D] | DeepReadonly<Documents[D]>): void;
}

/** A committed change, as subscribers learn of it. */
export interface CommittedChange {
  /** The store's revision after it (one more per change; more when it brings several changes other daemons made). */
  revision: number;
  /** Each collection it changed: its new version, and for row collections the keys put or deleted. */
  collections: ReadonlyMap<CollectionName, { version: number; keys: readonly string[] }>;
}

export interface Store {
  /** The state as last durably written. Cheap to read: nothing is copied. */
  readonly state: StateView;
  /** How many changes the state holds. */
  readonly revision: number;
  /** A collection's version: it grows with every change to that collection. */
  version(collection: CollectionName): number;
  get<C extends RowCollection>(collection: C, key: string): DeepReadonly<Rows[C]> | undefined;
  /**
   * Runs `change` on a draft of the state and makes its operations durable in one step. Changes run
   * one at a time; the promise resolves once the change is on disk. `change` may run more than once
   * (on PostgreSQL, again on the state another daemon left first), so it only reads and writes the
   * draft; its last run's result is the one returned. If `change` throws, an operation
   * holds a value the next start could not load (StateCheckError), or the write fails, the state
   * stays as it was and the error is passed on.
   *
   * `beforeCommit` runs after `change` succeeded and before anything is written: a change that must
   * be audited is recorded there, and is not made at all when the record cannot be written.
   */
  mutate<T>(change: (draft: Draft) => T, beforeCommit?: (result: T) => Promise<void>): Promise<T>;
  /** Calls `listener` after each committed change (synchronously, the new state already readable). Returns the unsubscribe. */
  subscribe(listener: (change: CommittedChange) => void): () => void;
  /** Waits for pending writes, makes the state compact on disk, then stops accepting changes. */
  close(): Promise<void>;
}
