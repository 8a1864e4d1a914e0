/**
 * fast-check arbitraries for the reliability fuzzer: values drawn from the contract's own schemas (so
 * that a good share of requests is valid and reaches the handlers, Graph and the store), mixed with
 * hostile values (wrong types, lone surrogates, path tricks, numbers no double holds, huge strings).
 */
import fc from 'fast-check';
import type { JsonSchema } from '../../openapi/contract.js';

/** Strings that have broken parsers, URL builders, loggers and files somewhere. */
export const HOSTILE_STRINGS = [
  '', ' ', '\t', '\n', '\r\n', '.', '..', '../..', '/..', '%2e%2e', '%2F', '\\', '\u0000', 'a\u0000b',
  '\ud800', '\udfff', 'x\ud83d', '\ud83d\ude00', '😀', 'é', '\u202e', '\ufeff', "'", '"', "''", '`', '<script>', '&amp;',
  '$count', '$ref', '$metadata', '${jndi:ldap://x}', '{{Password}}', '__proto__', 'constructor', 'prototype',
  'Infinity', '-Infinity', 'NaN', '1e309', '-1', '0', '-0', '0x10', '1e3', ' 5', '9007199254740993',
  'null', 'true', '[]', '{}', 'a'.repeat(257), 'a'.repeat(5000), '%', '%%', '%zz', '%ED%A0%80', '?', '#', '&', '=', ';',
  'PC-0001', 'All-Workstations', 'AMS-Helpdesk', 'user01@contoso.example', 'admin', 'user',
];

/** Values of the wrong kind for any field. */
export const HOSTILE_VALUES: unknown[] = [
  null, true, false, 0, -1, 1.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, [], [null], {}, { a: { b: { c: { d: {} } } } },
  ['\ud800'], { __proto__: { polluted: true } }, Array.from({ length: 200 }, () => 'x'),
];

export const hostileString = fc.constantFrom(...HOSTILE_STRINGS);
export const hostileValue = fc.oneof(hostileString, fc.constantFrom(...HOSTILE_VALUES), fc.string({ unit: 'binary', maxLength: 40 }));

export interface Pools {
  /** Ids that exist in the daemon under test (for path parameters and references). */
  ids: () => string[];
  /** Values that mean something in the daemon under test for a field of this name (a device's name, a group's). */
  known?: (field: string) => readonly string[] | undefined;
}

/**
 * A value that satisfies `schema` (2 in 5), or one that is valid but for exactly one spot (3 in 5): a
 * field, an item or the whole value replaced by something hostile, so that the rest passes validation
 * and the hostile spot reaches as deep as it can (a lookup, a Graph URL, the state file).
 */
export function fromSchema(schema: JsonSchema, pools: Pools): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 2, arbitrary: validFor(schema, pools, 0) }, { weight: 3, arbitrary: mutated(schema, pools, 0) });
}

/** `arbitrary` once in `1 + against` draws, null otherwise. */
export function rarely<T>(arbitrary: fc.Arbitrary<T>, against = 6): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: against, arbitrary: fc.constant(null) }, { weight: 1, arbitrary });
}

function typeOf(schema: JsonSchema): string | undefined {
  return Array.isArray(schema.type) ? (schema.type as string[]).find((t) => t !== 'null') : (schema.type as string | undefined);
}

/** Merges each alternative of a oneOf/anyOf with the schema around it. */
function alternativesOf(schema: JsonSchema): JsonSchema[] | undefined {
  const alternatives = (schema.oneOf ?? schema.anyOf) as JsonSchema[] | undefined;
  if (!alternatives) return undefined;
  const base: JsonSchema = { ...schema, oneOf: undefined, anyOf: undefined };
  return alternatives.map((alt) => ({ ...base, ...alt, properties: { ...(base.properties as object), ...(alt.properties as object) } }));
}

function mutated(schema: JsonSchema, pools: Pools, depth: number): fc.Arbitrary<unknown> {
  const alternatives = alternativesOf(schema);
  if (alternatives) return fc.oneof(...alternatives.map((alt) => mutated(alt, pools, depth)));
  const whole = fc.oneof({ weight: 3, arbitrary: hostileFor(schema) }, { weight: 1, arbitrary: hostileValue });
  const type = typeOf(schema);
  if (depth < 3 && type === 'object' && schema.properties) {
    const names = Object.keys(schema.properties);
    // One field hostile (or added, when the schema knows no such field), the others valid.
    const oneField = fc.constantFrom(...names, '(unknown)').chain((name) =>
      fc.tuple(validFor(schema, pools, depth), name === '(unknown)' ? fc.tuple(fc.constantFrom('extra', 'dryRun', 'computername', '__proto__', 'constructor', '\ud800', ''), hostileValue) : mutated((schema.properties as Record<string, JsonSchema>)[name]!, pools, depth + 1).map((v) => [name, v] as const)).map(([value, [key, hostile]]) => {
        const out = { ...(value as Record<string, unknown>) };
        Object.defineProperty(out, key, { value: hostile, enumerable: true, configurable: true, writable: true });
        return out;
      }),
    );
    return fc.oneof({ weight: 4, arbitrary: oneField }, { weight: 1, arbitrary: whole });
  }
  if (depth < 3 && type === 'array') {
    const oneItem = fc.tuple(validFor(schema, pools, depth), mutated((schema.items ?? {}) as JsonSchema, pools, depth + 1)).map(([items, hostile]) => [...(items as unknown[]), hostile]);
    return fc.oneof({ weight: 2, arbitrary: oneItem }, { weight: 1, arbitrary: whole });
  }
  return whole;
}

const ABSENT = Symbol('absent');

/** Values that a field of this type has been known to be broken by. */
function hostileFor(schema: JsonSchema): fc.Arbitrary<unknown> {
  switch (typeOf(schema)) {
    case 'integer':
    case 'number': {
      const max = typeof schema.maximum === 'number' ? schema.maximum : 1e6;
      const min = typeof schema.minimum === 'number' ? schema.minimum : -1e6;
      return fc.constantFrom<unknown>('1e309', 'Infinity', '-Infinity', 'NaN', ' 5', '0x10', '1e3', '5', '', max + 1, min - 1, 1e308, -1e308, 0.5, null, true, [5]);
    }
    case 'string': {
      const tooLong = 'a'.repeat((typeof schema.maxLength === 'number' ? schema.maxLength : 256) + 1);
      return fc.oneof(fc.constantFrom<unknown>('', ' ', '\t', '\n', '.', '..', '\ud800', 'PC-\ud800', '\udfff', '$count', '../..', tooLong, 123, null, [], {}, ['x']), hostileString);
    }
    case 'array':
      return fc.constantFrom<unknown>('x', 5, null, {}, [null], ['\ud800'], [''], Array.from({ length: 1000 }, (_, i) => `x${i}`));
    case 'boolean':
      return fc.constantFrom<unknown>('true', 'false', 1, 0, null, 'yes');
    default:
      return fc.constantFrom<unknown>([], null, 'x', 5, { '\ud800': 1 });
  }
}

function validFor(schema: JsonSchema, pools: Pools, depth: number, field = ''): fc.Arbitrary<unknown> {
  const alternatives = alternativesOf(schema);
  if (alternatives) return fc.oneof(...alternatives.map((alt) => validFor(alt, pools, depth, field)));
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  switch (typeOf(schema)) {
    case 'string': {
      const known = pools.known?.(field);
      return known && known.length > 0 ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...known) }, { weight: 1, arbitrary: stringFor(schema, pools) }) : stringFor(schema, pools);
    }
    case 'integer':
    case 'number': {
      const min = typeof schema.minimum === 'number' ? schema.minimum : -1000;
      const max = typeof schema.maximum === 'number' ? schema.maximum : Math.max(min + 1000, 1000);
      // Mostly small values (limits and counts that relate to each other stay plausible), the bounds sometimes.
      return fc.oneof({ weight: 3, arbitrary: fc.integer({ min, max: Math.min(max, min + 100) }) }, { weight: 1, arbitrary: fc.integer({ min, max }) }, { weight: 1, arbitrary: fc.constantFrom(min, max) });
    }
    case 'boolean':
      return fc.boolean();
    case 'array': {
      const maxLength = Math.min(typeof schema.maxItems === 'number' ? schema.maxItems : 3, 3);
      return depth > 3 ? fc.constant([]) : fc.array(validFor((schema.items ?? {}) as JsonSchema, pools, depth + 1, field), { maxLength });
    }
    default: {
      if (depth > 3) return fc.constant({});
      const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
      const required = new Set((schema.required ?? []) as string[]);
      // Each optional field in one draw of three: fields that must agree with each other seldom all appear.
      const entries = Object.entries(properties).map(([name, sub]) => {
        const value = validFor(sub, pools, depth + 1, name);
        return [name, required.has(name) ? value : fc.oneof({ weight: 2, arbitrary: fc.constant(ABSENT) }, { weight: 1, arbitrary: value })] as const;
      });
      return fc.record(Object.fromEntries(entries)).map((record) => Object.fromEntries(Object.entries(record).filter(([, v]) => v !== ABSENT)));
    }
  }
}

function stringFor(schema: JsonSchema, pools: Pools): fc.Arbitrary<string> {
  const maxLength = typeof schema.maxLength === 'number' ? Math.min(schema.maxLength, 64) : 64;
  const minLength = typeof schema.minLength === 'number' ? schema.minLength : 0;
  switch (schema.format) {
    case 'uuid':
      // Ids that exist as often as random ones: a path or reference then reaches a real object.
      return fc.oneof(fc.uuid(), fc.nat().map((i) => pools.ids()[i % Math.max(pools.ids().length, 1)] ?? '00000000-0000-4000-8000-000000000000'));
    case 'date-time':
      return fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
    default:
      if (typeof schema.pattern === 'string' && schema.pattern === '^[0-9]{1,15}$') return fc.integer({ min: 0, max: 99999 }).map(String);
      return fc.oneof(fc.string({ minLength, maxLength }), fc.constantFrom('PC-0001', 'PC-0002', 'All-Workstations', 'AMS-Helpdesk', 'user01@contoso.example', 'https://hooks.invalid/x'));
  }
}

/** Percent-encodes text for a URL, a lone surrogate as the (invalid) UTF-8 bytes a careless client would send. */
export function looseEncode(value: string): string {
  let out = '';
  for (const char of value) {
    const code = char.codePointAt(0)!;
    out += code >= 0xd800 && code <= 0xdfff ? '%' + [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)].map((b) => b.toString(16).toUpperCase()).join('%') : encodeURIComponent(char);
  }
  return out;
}
