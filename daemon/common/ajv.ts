/**
 * The one place ajv-formats is wired in. Its CommonJS default export arrives under `.default` when
 * imported from ESM under NodeNext, which TypeScript does not see: the cast lives here, once.
 */
import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/**
 * An Ajv instance with the standard string formats (`uuid`, `date-time`, `email`, …) added, and
 * OpenAPI's `password`, which only tells tools to hide a value and accepts any string.
 */
export function createAjv(options: Options = {}): Ajv {
  const ajv = new Ajv(options);
  addFormats(ajv);
  ajv.addFormat('password', true);
  return ajv;
}
