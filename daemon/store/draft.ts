/**
 * A change in the making, shared by the store's backends: the operations so far over the state it
 * started from (the maps are never changed here), and the operations checked the way the next start
 * will read them (record-checks.ts), so nothing is written that could not be loaded again.
 */
import { StateCheckError, recordProblems } from './record-checks.js';
import type { DocumentValues, RowMaps } from './state-files.js';
import { rowKey, type CollectionName, type DeepReadonly, type DocumentName, type Documents, type Draft, type Operation, type RowCollection, type Rows } from './store.js';

const DELETED = Symbol('deleted');

/** A change in the making: the operations so far over the state it started from. */
export class StoreDraft implements Draft {
  readonly rowChanges = new Map<RowCollection, Map<string, unknown>>();
  readonly documentChanges = new Map<DocumentName, unknown>();

  constructor(
    private readonly base: RowMaps,
    private readonly baseDocuments: DocumentValues,
    private readonly baseRows: <C extends RowCollection>(collection: C) => ReadonlyArray<DeepReadonly<Rows[C]>>,
  ) {}

  rows<C extends RowCollection>(collection: C): ReadonlyArray<DeepReadonly<Rows[C]>> {
    const changes = this.rowChanges.get(collection);
    if (!changes) return this.baseRows(collection);
    const merged = new Map<string, unknown>(this.base[collection]);
    for (const [key, value] of changes) {
      if (value === DELETED) merged.delete(key);
      else merged.set(key, value);
    }
    return [...merged.values()] as DeepReadonly<Rows[C]>[];
  }

  get<C extends RowCollection>(collection: C, key: string): DeepReadonly<Rows[C]> | undefined {
    const changes = this.rowChanges.get(collection);
    if (changes?.has(key)) {
      const value = changes.get(key);
      return value === DELETED ? undefined : (value as DeepReadonly<Rows[C]>);
    }
    return this.base[collection].get(key);
  }

  put<C extends RowCollection>(collection: C, row: Rows[C] | DeepReadonly<Rows[C]>): void {
    this.#changes(collection).set(rowKey(collection, row as DeepReadonly<Rows[C]>), row);
  }

  delete(collection: RowCollection, key: string): boolean {
    if (this.get(collection, key) === undefined) return false;
    this.#changes(collection).set(key, DELETED);
    return true;
  }

  document<D extends DocumentName>(name: D): DeepReadonly<Documents[D]> {
    return (this.documentChanges.has(name) ? this.documentChanges.get(name) : this.baseDocuments[name]) as DeepReadonly<Documents[D]>;
  }

  set<D extends DocumentName>(name: D, value: Documents[D] | DeepReadonly<Documents[D]>): void {
    this.documentChanges.set(name, value);
  }

  #changes(collection: RowCollection): Map<string, unknown> {
    let changes = this.rowChanges.get(collection);
    if (!changes) this.rowChanges.set(collection, (changes = new Map<string, unknown>()));
    return changes;
  }

  /**
   * The operations, each value as the next start will read it (JSON turns Infinity and NaN into null,
   * drops undefined) and checked against its collection's schema; with the journal line's text, and
   * each operation's value as JSON text (undefined for a delete, or a document set to nothing).
   */
  operations(): { ops: Operation[]; json: string; valueTexts: (string | undefined)[] } {
    const ops: Operation[] = [];
    const texts: string[] = [];
    const valueTexts: (string | undefined)[] = [];
    const add = (op: Operation, valueText?: string) => {
      ops.push(op);
      valueTexts.push(valueText);
      const { value: _value, ...rest } = op as Operation & { value?: unknown };
      const head = JSON.stringify(rest);
      texts.push(valueText === undefined ? head : `${head.slice(0, -1)},"value":${valueText}}`);
    };
    const checked = (collection: CollectionName, value: unknown, key?: string) => {
      const text = JSON.stringify(value);
      const parsed: unknown = text === undefined ? undefined : JSON.parse(text);
      const problem = recordProblems(collection, parsed, key);
      if (problem) throw new StateCheckError(problem);
      return { text, parsed };
    };
    for (const [collection, changes] of this.rowChanges) {
      for (const [key, value] of changes) {
        if (value === DELETED) {
          if (this.base[collection].has(key)) add({ op: 'delete', collection, key });
          continue;
        }
        const { text, parsed } = checked(collection, value, key);
        add({ op: 'put', collection, key, value: parsed } as Operation, text);
      }
    }
    for (const [name, value] of this.documentChanges) {
      const { text, parsed } = checked(name, value);
      add({ op: 'set', collection: name, value: parsed } as Operation, text);
    }
    return { ops, json: `[${texts.join(',')}]`, valueTexts };
  }
}
