/**
 * The state's schema, compiled once for the whole snapshot (checked on load) and once per collection
 * (checked for each row or document a change writes, and for each journal entry on load): nothing is
 * written that the next start could not load, and a change is checked by what it changes only.
 */
import type { Options } from 'ajv';
import { describeSchemaErrors } from '../common/durable-files.js';
import { fileValidator } from '../common/precompiled-validators.js';
import { SCHEMA_VERSION, stateSchema, type State } from './state.js';
import { DOCUMENT_NAMES, ROW_COLLECTIONS, ROW_KEYS, type CollectionName, type Operation, type RowCollection } from './store.js';

/** How the state's schemas are compiled, here and by the build (scripts/build-contract.ts). */
export const STATE_VALIDATION_OPTIONS: Options = { allErrors: true, strict: true };
const validateState = fileValidator<State>(stateSchema, STATE_VALIDATION_OPTIONS);

type Validator = ((value: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null };
const properties = stateSchema.properties as unknown as Record<string, { items?: object } & object>;
/** The schema of each collection's rows, and of each document. */
export const recordSchemas = Object.fromEntries([
  ...ROW_COLLECTIONS.map((c) => [c, properties[c]!.items!]),
  ...DOCUMENT_NAMES.map((d) => [d, properties[d]!]),
]) as Record<CollectionName, object>;
const recordValidators = Object.fromEntries(
  Object.entries(recordSchemas).map(([name, schema]): [string, Validator] => [name, fileValidator(schema, STATE_VALIDATION_OPTIONS)]),
) as Record<CollectionName, Validator>;

/** Whether a loaded snapshot matches the schema; `snapshotProblems` says how it does not. */
export function isValidSnapshot(raw: unknown): raw is State {
  return validateState(raw);
}

export function snapshotProblems(): string {
  return describeSchemaErrors(validateState.errors);
}

/**
 * A change would have written a value the daemon refuses to load (a bug let a value through that the
 * schema does not allow). Nothing was written; the request that made it fails.
 */
export class StateCheckError extends Error {
  constructor(problems: string) {
    super(`The change was not written: the state it would leave does not match schema version ${SCHEMA_VERSION} (${problems}), so amsd could not load it again.`);
    this.name = 'StateCheckError';
  }
}

/** The problems of one row or document as the next start would read it, or undefined when it is good. */
export function recordProblems(collection: CollectionName, value: unknown, key?: string): string | undefined {
  const at = key === undefined ? `/${collection}` : `/${collection}/${key}`;
  if (value === undefined && collection === 'auditTrail') return undefined; // an optional document, absent
  const validate = recordValidators[collection];
  if (!validate(value)) return describeSchemaErrors(validate.errors?.map((e) => ({ ...e, instancePath: at + e.instancePath })));
  if (key !== undefined && (value as Record<string, unknown>)[ROW_KEYS[collection as RowCollection]] !== key) {
    return `${at} is stored under a key that is not its ${ROW_KEYS[collection as RowCollection]}`;
  }
  return undefined;
}

const isRowCollection = (name: unknown): name is RowCollection => (ROW_COLLECTIONS as unknown[]).includes(name);
const isDocumentName = (name: unknown): name is CollectionName => (DOCUMENT_NAMES as unknown[]).includes(name);

/** The problem of an operation read back from the journal, or undefined when it can be applied. */
export function operationProblem(raw: unknown): string | undefined {
  const op = raw as Partial<Operation> & { value?: unknown; key?: unknown } | null;
  if (!op || typeof op !== 'object') return 'an operation is not an object';
  if (op.op === 'put' && isRowCollection(op.collection) && typeof op.key === 'string') return recordProblems(op.collection, op.value, op.key);
  if (op.op === 'delete' && isRowCollection(op.collection) && typeof op.key === 'string') return undefined;
  if (op.op === 'set' && isDocumentName(op.collection)) return recordProblems(op.collection, op.value);
  return `an operation is not one of put, delete (on ${ROW_COLLECTIONS.join(', ')}) or set (on ${DOCUMENT_NAMES.join(', ')})`;
}
