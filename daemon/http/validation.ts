/**
 * Request validation as the contract means it, replacing Fastify's ajv setup, which coerces every part
 * of a request (`coerceTypes: 'array'`): it takes `{"computerName":123}` for the name "123", and turns
 * the strings "1e309", "Infinity" and "-Infinity" into infinities that then pass `minimum`/`maximum`
 * (ajv's generated code checks bounds only on finite numbers, trusting its type check to have refused
 * the others, but a coerced string skips that check), and " 5" or "0x10" into 5 and 16.
 *
 * - Bodies are JSON: they are validated as sent, never coerced.
 * - Query and path values arrive as strings: one is turned into a number only when it is a plain
 *   decimal (`12`, `-3`, `0.5`) whose value is finite, into a boolean only when `true` or `false`;
 *   anything else stays a string, so the schema's type check refuses it with a message naming the field.
 *   Bounds are then checked on the number itself.
 * - Every string anywhere in a request must be well-formed Unicode: a lone UTF-16 surrogate (which
 *   `\ud800` in JSON can carry) cannot be encoded into a Graph URL, a log line or a file. Nor may it
 *   hold NUL (`\u0000`): no name, id or text means one, and PostgreSQL's jsonb and text cannot store
 *   it, so the embedded store and the shared one answer the same 400.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { AnySchema, Ajv, ErrorObject, Options, ValidateFunction } from 'ajv';
import { createAjv } from '../common/ajv.js';
import type { JsonSchema } from '../../openapi/contract.js';

/** `12`, `-3`, `0.5`: what a person or a script writes for a number in a URL. No exponents, hex or spaces. */
const PLAIN_DECIMAL = /^-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,15})?$/;

/** How request schemas are compiled, here and by the build (scripts/build-contract.ts). */
export const REQUEST_VALIDATION_OPTIONS: Options = {
  allErrors: true, // report every failing field at once, not the first
  verbose: true, // errors carry their schema: a oneOf of alternatives can then name them
  removeAdditional: false, // an unknown (misspelt) field is an error, never silently dropped
  coerceTypes: false,
  useDefaults: true,
  addUsedSchema: false, // schemas are compiled one by one; an $id must not clash across routes
};

/**
 * The request schemas compiled by `npm run build` (ajv standalone code), beside the compiled
 * validation.js: dist/daemon/http/request-validators.cjs. Compiling them all at start took about
 * 0.4 s of CPU; compiling each at its route's first request cost that request up to tens of ms
 * (30 ms for the first one, which pays for ajv's set-up); loading these costs about 6 ms, once.
 */
export const precompiledValidatorsPath = fileURLToPath(new URL('./request-validators.cjs', import.meta.url));

/**
 * The name of a schema's validator among the precompiled ones: a hash of its JSON and of the options,
 * so that a schema or an option changed since the build (tsc run alone) finds none and is compiled
 * here instead. Never a validator of another schema.
 */
export function precompiledName(schema: unknown): string {
  return `v${createHash('sha256').update(JSON.stringify([REQUEST_VALIDATION_OPTIONS, schema])).digest('hex').slice(0, 40)}`;
}

let precompiled: Record<string, ValidateFunction | undefined> | undefined;

function precompiledValidator(schema: unknown): ValidateFunction | undefined {
  precompiled ??= existsSync(precompiledValidatorsPath)
    ? (createRequire(import.meta.url)(precompiledValidatorsPath) as Record<string, ValidateFunction>)
    : {};
  return precompiled[precompiledName(schema)];
}

type FastifyValidator = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

/**
 * Fastify's `setValidatorCompiler` for the contract's schemas. Nothing is compiled at start: at its
 * route's first request a schema gets the validator the build compiled for it, or is compiled by ajv
 * then (run from the sources, or for a schema the build did not see). That every schema compiles
 * is checked by test/http/contract.test.ts, and by the build.
 */
export function contractValidatorCompiler() {
  let ajv: Ajv | undefined;
  const compile = (schema: unknown) => (ajv ??= createAjv(REQUEST_VALIDATION_OPTIONS)).compile(schema as AnySchema);
  return ({ schema, httpPart }: { schema: unknown; httpPart?: string }): FastifyValidator => {
    let validate: ValidateFunction | undefined;
    const coerce = httpPart === 'querystring' || httpPart === 'params';
    const validator: FastifyValidator = (data: unknown) => {
      validate ??= precompiledValidator(schema) ?? compile(schema);
      if (coerce) coerceParameters(schema as JsonSchema, data);
      const malformed = malformedText(data);
      const valid = validate(data);
      if (valid && malformed.length === 0) {
        validator.errors = null;
        return true;
      }
      const errors = [...malformed, ...(validate.errors ?? [])];
      validator.errors = errors.length > 0 ? errors : null;
      return false;
    };
    return validator;
  };
}

/** Turns the string values of query or path parameters into the numbers and booleans their schemas ask for. */
export function coerceParameters(schema: JsonSchema, data: unknown): void {
  if (!data || typeof data !== 'object') return;
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const values = data as Record<string, unknown>;
  for (const [name, value] of Object.entries(values)) {
    const type = properties[name]?.type;
    if (typeof value !== 'string' || (type !== 'integer' && type !== 'number' && type !== 'boolean')) continue;
    if (type === 'boolean') {
      if (value === 'true' || value === 'false') values[name] = value === 'true';
    } else if (PLAIN_DECIMAL.test(value)) {
      const number = Number(value);
      if (Number.isFinite(number)) values[name] = number;
    }
  }
}

/**
 * Where a request part holds a string (value or key) that is not well-formed Unicode or holds NUL, as ajv-style
 * errors so they are reported like any other validation failure. Walks arrays and objects to any depth.
 */
export function malformedText(value: unknown): ErrorObject[] {
  if (allWellFormed(value)) return NO_ERRORS; // every request passes here: paths are built only for a report
  const errors: ErrorObject[] = [];
  const report = (path: string[], message: string) =>
    errors.push({ instancePath: path.map((p) => '/' + p).join(''), schemaPath: '#', keyword: 'wellFormed', params: {}, message });
  const walk = (node: unknown, path: string[]): void => {
    if (typeof node === 'string') {
      if (!node.isWellFormed()) report(path, 'contains a lone UTF-16 surrogate (such as \\ud800); send well-formed Unicode text');
      else if (node.includes('\u0000')) report(path, 'contains the NUL character (\\u0000), which no name, id or text here may hold; remove it');
    } else if (Array.isArray(node)) {
      node.forEach((child, i) => walk(child, [...path, String(i)]));
    } else if (node && typeof node === 'object') {
      for (const [key, child] of Object.entries(node)) {
        if (!key.isWellFormed()) report([...path, key.toWellFormed()], 'is a field name with a lone UTF-16 surrogate; send well-formed Unicode text');
        else if (key.includes('\u0000')) report([...path, key.replaceAll('\u0000', '\ufffd')], 'is a field name with the NUL character (\\u0000); remove it');
        else walk(child, [...path, key]);
      }
    }
  };
  walk(value, []);
  return errors;
}

const NO_ERRORS: ErrorObject[] = Object.freeze([]) as unknown as ErrorObject[];

/** Whether every string in `value`, and every field name, is well-formed and free of NUL: the walk of malformedText without its paths. */
function allWellFormed(node: unknown): boolean {
  if (typeof node === 'string') return node.isWellFormed() && !node.includes('\u0000');
  if (Array.isArray(node)) {
    for (const child of node) if (!allWellFormed(child)) return false;
    return true;
  }
  if (node && typeof node === 'object') {
    for (const key in node) {
      if (!Object.prototype.hasOwnProperty.call(node, key)) continue;
      if (!allWellFormed(key) || !allWellFormed((node as Record<string, unknown>)[key])) return false;
    }
  }
  return true;
}
