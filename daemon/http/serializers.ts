/**
 * Fastify's compilers for the contract's routes, without what a start does not need:
 * - requests are validated by validation.ts's compiler, so Fastify's own ajv set-up
 *   (@fastify/ajv-compiler, which loads all of ajv and its JTD flavour) is never built;
 * - responses are serialized by fast-json-stringify code compiled by `npm run build`
 *   (dist/daemon/http/response-serializers.cjs), one factory per response schema named by a hash of
 *   it, made when its route first answers. Compiling every route's serializers (twice: GET and
 *   HEAD) at start, after loading fast-json-stringify and ajv for it, was about 60 ms of CPU. A schema
 *   the build did not see (run from the sources, or changed since) is compiled at start as before.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FastifyServerOptions } from 'fastify';
import { contractValidatorCompiler } from './validation.js';

type Serialize = (data: unknown) => string;
type SerializerCompiler = (route: { schema: unknown; method?: string; url?: string; httpStatus?: string; contentType?: string }) => Serialize;

export const precompiledSerializersPath = fileURLToPath(new URL('./response-serializers.cjs', import.meta.url));

/** The options fast-json-stringify gets, at start and in the build (Fastify's: its serializer options, no shared schemas). */
export const SERIALIZER_OPTIONS = { schema: {} };

/** The name of a response schema's serializer among the built ones. */
export function serializerName(schema: unknown): string {
  return `s${createHash('sha256').update(JSON.stringify([SERIALIZER_OPTIONS, schema])).digest('hex').slice(0, 40)}`;
}

const require = createRequire(import.meta.url);
let built: Record<string, (() => Serialize) | undefined> | undefined;

function compileNow(schema: unknown): Serialize {
  const fastJson = require('fast-json-stringify') as (schema: unknown, options: object) => Serialize;
  return fastJson(schema, { ...SERIALIZER_OPTIONS });
}

/** Fastify's serializer compiler: the built factory, made on first use; else compiled now. */
export function contractSerializerCompiler(): SerializerCompiler {
  return ({ schema }) => {
    built ??= existsSync(precompiledSerializersPath) ? (require(precompiledSerializersPath) as Record<string, () => Serialize>) : {};
    const factory = built[serializerName(schema)];
    if (!factory) return compileNow(schema);
    let serialize: Serialize | undefined;
    return (data) => (serialize ??= factory())(data);
  };
}

/** Fastify's `schemaController` option: these compilers instead of its defaults. */
export function contractSchemaController(): FastifyServerOptions['schemaController'] {
  const compilersFactory = {
    buildValidator: () => contractValidatorCompiler(),
    buildSerializer: () => contractSerializerCompiler(),
  };
  // Fastify types a validator factory's compiler as ajv's compile(schema); it calls it, as any
  // validator compiler, with { schema, method, url, httpPart } (lib/schemas.js).
  return { compilersFactory: compilersFactory as unknown as NonNullable<FastifyServerOptions['schemaController']>['compilersFactory'] };
}
