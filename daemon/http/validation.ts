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
 *   `\ud800` in JSON can carry) cannot be encoded into a Graph URL, a log line or a file.
 */
import type { AnySchema, ErrorObject, ValidateFunction } from 'ajv';
import { createAjv } from '../common/ajv.js';
import type { JsonSchema } from '../../openapi/contract.js';


/** `12`, `-3`, `0.5`: what a person or a script writes for a number in a URL. No exponents, hex or spaces. */
const PLAIN_DECIMAL = /^-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,15})?$/;

function newAjv() {
  return createAjv({
    allErrors: true, // report every failing field at once, not the first
    verbose: true, // errors carry their schema: a oneOf of alternatives can then name them
    removeAdditional: false, // an unknown (misspelt) field is an error, never silently dropped
    coerceTypes: false,
    useDefaults: true,
    addUsedSchema: false, // schemas are compiled one by one; an $id must not clash across routes
  });
}

type FastifyValidator = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

/**
 * Fastify's `setValidatorCompiler` for the contract's schemas. Each schema is compiled by ajv when its
 * route is first asked for, not at start: compiling all of them took half a second of every start,
 * for routes most runs never see. (That they all compile is checked by test/http/contract.test.ts.)
 */
export function contractValidatorCompiler() {
  const ajv = newAjv();
  return ({ schema, httpPart }: { schema: unknown; httpPart?: string }): FastifyValidator => {
    let validate: ValidateFunction | undefined;
    const coerce = httpPart === 'querystring' || httpPart === 'params';
    const validator: FastifyValidator = (data: unknown) => {
      validate ??= ajv.compile(schema as AnySchema);
      if (coerce) coerceParameters(schema as JsonSchema, data);
      const malformed = malformedText(data);
      const valid = validate(data);
      const errors = [...malformed, ...(validate.errors ?? [])];
      validator.errors = errors.length > 0 ? errors : null;
      return valid && malformed.length === 0;
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
 * Where a request part holds a string (value or key) that is not well-formed Unicode, as ajv-style
 * errors so they are reported like any other validation failure. Walks arrays and objects to any depth.
 */
export function malformedText(value: unknown): ErrorObject[] {
  const errors: ErrorObject[] = [];
  const report = (path: string[], message: string) =>
    errors.push({ instancePath: path.map((p) => '/' + p).join(''), schemaPath: '#', keyword: 'wellFormed', params: {}, message });
  const walk = (node: unknown, path: string[]): void => {
    if (typeof node === 'string') {
      if (!node.isWellFormed()) report(path, 'contains a lone UTF-16 surrogate (such as \\ud800); send well-formed Unicode text');
    } else if (Array.isArray(node)) {
      node.forEach((child, i) => walk(child, [...path, String(i)]));
    } else if (node && typeof node === 'object') {
      for (const [key, child] of Object.entries(node)) {
        if (key.isWellFormed()) walk(child, [...path, key]);
        else report([...path, key.toWellFormed()], 'is a field name with a lone UTF-16 surrogate; send well-formed Unicode text');
      }
    }
  };
  walk(value, []);
  return errors;
}
