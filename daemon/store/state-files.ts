/**
 * The embedded store's files, read as one state: the snapshot (`amsd.json`, through lowdb) with the
 * change journal's later entries applied. The store loads through it at start, and so does every
 * tool that reads a data directory (`amsd audit verify`, tests), so all of them see the current state.
 * A file that cannot be trusted is refused (StoreLoadError), never reset or changed.
 */
import type { Adapter } from 'lowdb';
import { UntrustedFileError, atomicWrite, loadVersionedJson } from '../common/durable-files.js';
import { JournalError, journalFileOf, readJournal, type ReadJournal } from './journal.js';
import { isValidSnapshot, snapshotProblems } from './record-checks.js';
import { PIECE_CHARS, snapshotPieces } from './snapshot-text.js';
import { SCHEMA_VERSION, fillAddedCollections, type State } from './state.js';
import { DOCUMENT_NAMES, ROW_COLLECTIONS, rowKey, type CollectionName, type DeepReadonly, type Documents, type Operation, type RowCollection, type Rows } from './store.js';

/** The data file (or its journal) exists but cannot be used. The daemon stops with this message; the files are left as they are. */
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
 * The snapshot as a lowdb adapter: read refuses what it cannot trust, write is atomic and durable,
 * and made in pieces that leave the event loop to requests between them (snapshot-text.ts).
 */
export class SnapshotFile implements Adapter<State> {
  constructor(
    readonly file: string,
    private readonly pieceChars = PIECE_CHARS,
  ) {}

  async read(): Promise<State | null> {
    try {
      const state = await loadVersionedJson<State>(this.file, {
        versionField: 'schemaVersion',
        version: SCHEMA_VERSION,
        versionName: 'schema version',
        upgrade: fillAddedCollections,
        check: isValidSnapshot,
        problems: snapshotProblems,
      });
      return state ?? null;
    } catch (error) {
      if (error instanceof UntrustedFileError) throw new StoreLoadError(this.file, error.problem);
      throw error;
    }
  }

  async write(data: State): Promise<void> {
    await atomicWrite(this.file, snapshotPieces(data, this.pieceChars));
  }
}

export type RowMaps = { [C in RowCollection]: Map<string, DeepReadonly<Rows[C]>> };
export type DocumentValues = { [D in DocumentName]: DeepReadonly<Documents[D]> };
type DocumentName = keyof Documents;

export interface LoadedState {
  rows: RowMaps;
  documents: DocumentValues;
  /** Changes held: the snapshot's, then the journal's applied. */
  revision: number;
  /** Changes the snapshot holds. */
  snapshotRevision: number;
  /** The revision each collection was last changed at (the snapshot's for those the journal does not touch). */
  versions: Record<CollectionName, number>;
  journal: ReadJournal;
}

/**
 * Reads the snapshot and applies the journal's entries after it. Null when there is no snapshot
 * (a new data directory); refused when there is a journal without one, or with a gap after it.
 * The journal is read first: a fold running meanwhile only ever moves the snapshot ahead of it.
 */
export async function loadStateFiles(stateFile: string): Promise<LoadedState | null> {
  const journalFile = journalFileOf(stateFile);
  let journal: ReadJournal;
  try {
    journal = await readJournal(journalFile);
  } catch (error) {
    if (error instanceof JournalError) throw new StoreLoadError(stateFile, `its change journal ${error.message}`);
    throw error;
  }
  const snapshot = await new SnapshotFile(stateFile).read();
  if (!snapshot) {
    if (journal.entries.length > 0) throw new StoreLoadError(stateFile, `it is missing, but its change journal ${journalFile} holds changes: it was deleted or moved`);
    return null;
  }
  const snapshotRevision = snapshot.revision ?? 0;
  const rows = {} as Record<RowCollection, Map<string, unknown>>;
  for (const collection of ROW_COLLECTIONS) {
    const map = new Map<string, unknown>();
    for (const row of snapshot[collection] as DeepReadonly<Rows[RowCollection]>[]) {
      const key = rowKey(collection, row);
      if (map.has(key)) throw new StoreLoadError(stateFile, `two rows of ${collection} have the key ${key}`);
      map.set(key, row);
    }
    rows[collection] = map;
  }
  const documents = { settings: snapshot.settings, auditTrail: snapshot.auditTrail } as DocumentValues;
  const versions = Object.fromEntries([...ROW_COLLECTIONS, ...DOCUMENT_NAMES].map((c) => [c, snapshotRevision])) as Record<CollectionName, number>;
  let revision = snapshotRevision;
  for (const entry of journal.entries) {
    if (entry.seq <= snapshotRevision) continue;
    if (entry.seq !== revision + 1) {
      throw new StoreLoadError(stateFile, `it holds changes up to ${revision}, but its change journal ${journalFile} goes on at change ${entry.seq}: changes are missing`);
    }
    for (const op of entry.ops) {
      applyOperation(rows as unknown as RowMaps, documents, op);
      versions[op.collection] = entry.seq;
    }
    revision = entry.seq;
  }
  return { rows: rows as unknown as RowMaps, documents, revision, snapshotRevision, versions, journal };
}

/** Applies one operation to maps the caller owns. */
export function applyOperation(rows: RowMaps, documents: DocumentValues, op: Operation): void {
  if (op.op === 'put') (rows[op.collection] as Map<string, unknown>).set(op.key, op.value);
  else if (op.op === 'delete') rows[op.collection].delete(op.key);
  else (documents as Record<string, unknown>)[op.collection] = op.value;
}

/** The whole state as the snapshot holds it. */
export function toState(rows: RowMaps, documents: DocumentValues, revision: number): State {
  return {
    schemaVersion: SCHEMA_VERSION,
    revision,
    ...(Object.fromEntries(ROW_COLLECTIONS.map((c) => [c, [...rows[c].values()]])) as Pick<State, RowCollection>),
    settings: documents.settings as State['settings'],
    ...(documents.auditTrail !== undefined ? { auditTrail: documents.auditTrail } : {}),
  };
}

/** The current state of a data file and its journal, for tools that read it (safe while the daemon runs); null when there is none. */
export async function readState(stateFile: string): Promise<State | null> {
  const loaded = await loadStateFiles(stateFile);
  return loaded && toState(loaded.rows, loaded.documents, loaded.revision);
}
