/**
 * Validators of the daemon's own files (the state, its journal, the notification queue), compiled by
 * `npm run build` into ajv standalone code beside this module (dist/daemon/common/file-validators.cjs),
 * each named by a hash of its options and schema. Compiling them when their modules loaded took about
 * half of a fresh start's CPU (ajv compiles its meta-schema first, in every instance); loading the
 * built code takes a few ms. A schema the build did not see (run from the sources, or changed since)
 * is compiled here instead, with the same options, so it answers the same either way.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Ajv, Options, ValidateFunction } from 'ajv';
import { createAjv } from './ajv.js';

export const builtFileValidatorsPath = fileURLToPath(new URL('./file-validators.cjs', import.meta.url));

/** The name of a schema's validator among the built ones: never that of another schema or other options. */
export function fileValidatorName(schema: object, options: Options): string {
  return `v${createHash('sha256').update(JSON.stringify([options, schema])).digest('hex').slice(0, 40)}`;
}

let built: Record<string, ValidateFunction | undefined> | undefined;
/** One Ajv per set of options for the schemas compiled here (each instance compiles ajv's meta-schema first). */
const compilers = new Map<string, Ajv>();

/** The validator of `schema`: the one the build compiled, else compiled now. */
export function fileValidator<T>(schema: object, options: Options): ValidateFunction<T> {
  built ??= existsSync(builtFileValidatorsPath) ? (createRequire(import.meta.url)(builtFileValidatorsPath) as Record<string, ValidateFunction>) : {};
  const precompiled = built[fileValidatorName(schema, options)] as ValidateFunction<T> | undefined;
  if (precompiled) return precompiled;
  const key = JSON.stringify(options);
  let ajv = compilers.get(key);
  if (!ajv) compilers.set(key, (ajv = createAjv(options)));
  return ajv.compile<T>(schema);
}
