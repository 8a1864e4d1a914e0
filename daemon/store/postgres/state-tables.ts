/**
 * The state in the database's tables (see migrations.ts): read whole, read what changed since a
 * revision, and written as one change. Every row and document read is checked as the embedded store
 * checks its files (record-checks.ts): a value this amsd cannot use is refused, naming where it is.
 */
import type pg from 'pg';
import { recordProblems } from '../record-checks.js';
import type { DocumentValues } from '../state-files.js';
import { DOCUMENT_NAMES, ROW_COLLECTIONS, type CollectionName, type DocumentName, type Operation, type RowCollection } from '../store.js';
import { ROW_TABLES } from './migrations.js';
import type { LoadedState, Update } from './replica.js';

/** The channel every committed change is announced on (NOTIFY), with its revision as the payload. */
export const CHANGES_CHANNEL = 'amsd_state_changes';
/** Changes kept in the change log: a daemon further behind than this reloads the whole state. */
export const CHANGE_LOG_KEEP = 10_000;

/** The database holds a value this amsd cannot load. */
export class DatabaseStateError extends Error {
  constructor(database: string, problem: string) {
    super(`The database ${database} holds a state amsd cannot use: ${problem}. amsd has not changed it.`);
    this.name = 'DatabaseStateError';
  }
}

const isRowCollection = (name: string): name is RowCollection => (ROW_COLLECTIONS as readonly string[]).includes(name);

function checked(database: string, collection: CollectionName, value: unknown, key?: string): unknown {
  const problem = recordProblems(collection, value, key);
  if (problem) throw new DatabaseStateError(database, problem);
  return value;
}

/** The documents' values as stored: SQL NULL is an absent document. */
const documentValue = (value: unknown) => (value === null ? undefined : value);

export async function readRevision(client: pg.ClientBase, forUpdate = false): Promise<number> {
  const result = await client.query<{ revision: string }>(`SELECT revision FROM revision${forUpdate ? ' FOR UPDATE' : ''}`);
  return Number(result.rows[0]!.revision);
}

/** The whole state; call it inside a transaction that sees one snapshot (REPEATABLE READ). */
export async function readState(client: pg.ClientBase, database: string): Promise<LoadedState> {
  const revision = await readRevision(client);
  const versions = Object.fromEntries([...ROW_COLLECTIONS, ...DOCUMENT_NAMES].map((c) => [c, 0])) as Record<CollectionName, number>;
  for (const row of (await client.query<{ collection: string; version: string }>('SELECT collection, version FROM collection_versions')).rows) {
    versions[row.collection as CollectionName] = Number(row.version);
  }
  const rows = {} as LoadedState['rows'];
  for (const collection of ROW_COLLECTIONS) {
    const result = await client.query<{ key: string; value: unknown }>(`SELECT key, value FROM ${ROW_TABLES[collection]} ORDER BY position`);
    rows[collection] = result.rows.map((r) => [r.key, checked(database, collection, r.value, r.key)]);
  }
  const documents = { settings: {}, auditTrail: undefined } as unknown as DocumentValues;
  for (const row of (await client.query<{ name: DocumentName; value: unknown }>('SELECT name, value FROM documents')).rows) {
    if ((DOCUMENT_NAMES as readonly string[]).includes(row.name)) {
      (documents as Record<string, unknown>)[row.name] = checked(database, row.name, documentValue(row.value));
    }
  }
  return { revision, versions, rows, documents };
}

export interface ChangesSince {
  revision: number;
  updates: Update[];
  versions: Map<CollectionName, number>;
}

/**
 * What changed after `since`, up to `head`, as the rows and documents are now; null when the change
 * log no longer holds all of it (read the whole state instead). Call it where no change can commit
 * meanwhile: inside a REPEATABLE READ transaction, or holding the revision row.
 */
export async function readChangesSince(client: pg.ClientBase, database: string, since: number, head: number): Promise<ChangesSince | null> {
  const log = await client.query<{ revision: string; collections: Record<string, string[]> }>(
    'SELECT revision, collections FROM changes WHERE revision > $1 AND revision <= $2 ORDER BY revision',
    [since, head],
  );
  if (log.rows.length !== head - since) return null;
  const keys = new Map<CollectionName, Set<string>>();
  for (const entry of log.rows) {
    for (const [collection, written] of Object.entries(entry.collections)) {
      let set = keys.get(collection as CollectionName);
      if (!set) keys.set(collection as CollectionName, (set = new Set()));
      for (const key of written) set.add(key);
    }
  }
  const names = [...keys.keys()];
  const versions = new Map<CollectionName, number>();
  for (const row of (await client.query<{ collection: string; version: string }>('SELECT collection, version FROM collection_versions WHERE collection = ANY($1::text[])', [names])).rows) {
    versions.set(row.collection as CollectionName, Number(row.version));
  }
  const updates: Update[] = [];
  const documentNames: DocumentName[] = [];
  for (const [collection, written] of keys) {
    if (!isRowCollection(collection)) {
      documentNames.push(collection);
      continue;
    }
    const result = await client.query<{ key: string; value: unknown }>(`SELECT key, value FROM ${ROW_TABLES[collection]} WHERE key = ANY($1::text[])`, [[...written]]);
    const found = new Map(result.rows.map((r) => [r.key, r.value]));
    for (const key of written) {
      const value = found.get(key);
      updates.push({ collection, key, value: value === undefined ? undefined : checked(database, collection, value, key) });
    }
  }
  if (documentNames.length > 0) {
    for (const row of (await client.query<{ name: DocumentName; value: unknown }>('SELECT name, value FROM documents WHERE name = ANY($1::text[])', [documentNames])).rows) {
      updates.push({ collection: row.name, value: checked(database, row.name, documentValue(row.value)) });
    }
  }
  return { revision: head, updates, versions };
}

/**
 * Writes one change as `revision` (the revision row is held FOR UPDATE by the caller's transaction):
 * its rows and documents, the versions of the collections it changed, its change log entry, the
 * revision, and the notification other daemons wait for (sent when the transaction commits).
 * `valueTexts[i]` is `ops[i]`'s value as JSON text, checked already.
 */
export async function writeChange(client: pg.ClientBase, revision: number, ops: readonly Operation[], valueTexts: readonly (string | undefined)[]): Promise<void> {
  const puts = new Map<RowCollection, { keys: string[]; values: string[] }>();
  const deletes = new Map<RowCollection, string[]>();
  const written = new Map<CollectionName, string[]>();
  for (const [index, op] of ops.entries()) {
    if (!written.has(op.collection)) written.set(op.collection, []);
    if (op.op === 'set') {
      await client.query('UPDATE documents SET value = $2::jsonb, version = $3 WHERE name = $1', [op.collection, valueTexts[index] ?? null, revision]);
      continue;
    }
    written.get(op.collection)!.push(op.key);
    if (op.op === 'delete') {
      if (!deletes.has(op.collection)) deletes.set(op.collection, []);
      deletes.get(op.collection)!.push(op.key);
    } else {
      if (!puts.has(op.collection)) puts.set(op.collection, { keys: [], values: [] });
      const batch = puts.get(op.collection)!;
      batch.keys.push(op.key);
      batch.values.push(valueTexts[index]!);
    }
  }
  for (const [collection, keys] of deletes) await client.query(`DELETE FROM ${ROW_TABLES[collection]} WHERE key = ANY($1::text[])`, [keys]);
  for (const [collection, { keys, values }] of puts) {
    await client.query(
      `INSERT INTO ${ROW_TABLES[collection]} (key, value, version) SELECT k, v::jsonb, $3 FROM unnest($1::text[], $2::text[]) AS u(k, v)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version`,
      [keys, values, revision],
    );
  }
  await client.query('UPDATE collection_versions SET version = $1 WHERE collection = ANY($2::text[])', [revision, [...written.keys()]]);
  await client.query('INSERT INTO changes (revision, collections) VALUES ($1, $2::jsonb)', [revision, JSON.stringify(Object.fromEntries(written))]);
  if (revision % 100 === 0) await client.query('DELETE FROM changes WHERE revision <= $1', [revision - CHANGE_LOG_KEEP]);
  await client.query('UPDATE revision SET revision = $1', [revision]);
  await client.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, String(revision)]);
}

/**
 * What PostgreSQL cannot hold that JSON can: jsonb refuses the NUL character (\u0000) and lone UTF-16
 * surrogates in any string or field name. Undefined when the value can be stored.
 */
export function jsonbProblem(value: unknown, at: string): string | undefined {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return `${at} holds the NUL character (\\u0000), which PostgreSQL cannot store`;
    if (!value.isWellFormed()) return `${at} holds a lone UTF-16 surrogate, which PostgreSQL cannot store`;
    return undefined;
  }
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const problem = jsonbProblem(item, `${at}/${index}`);
      if (problem) return problem;
    }
    return undefined;
  }
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const problem = jsonbProblem(key, `${at} (a field name)`) ?? jsonbProblem(item, `${at}/${key}`);
      if (problem) return problem;
    }
  }
  return undefined;
}
