/**
 * The one place ajv-formats is wired in. Its CommonJS default export arrives under `.default` when
 * imported from ESM under NodeNext, which TypeScript does not see: the cast lives here, once.
 *
 * Both packages are loaded at the first `createAjv`, not with this module: a start that runs only
 * validators compiled by the build (validation.ts, precompiled-validators.ts) never needs ajv itself.
 */
import { createRequire } from 'node:module';
import type { Ajv, Options } from 'ajv';
import type addFormatsModule from 'ajv-formats';

const require = createRequire(import.meta.url);

/**
 * An Ajv instance with the standard string formats (`uuid`, `date-time`, `email`, …) added, and
 * OpenAPI's `password`, which only tells tools to hide a value and accepts any string.
 */
export function createAjv(options: Options = {}): Ajv {
  const { Ajv } = require('ajv') as typeof import('ajv');
  const addFormats = require('ajv-formats') as typeof addFormatsModule.default;
  const ajv = new Ajv(options);
  addFormats(ajv);
  ajv.addFormat('password', true);
  return ajv;
}
