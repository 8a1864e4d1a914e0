/**
 * The contract (openapi/ams.yaml) as the daemon and the generator read it: the document, parsed once
 * per process; the list of operations; and their schemas turned from OpenAPI 3.0 dialect into the JSON
 * Schema that ajv validates. Imports nothing of amsd's but the package root: the daemon and the
 * PowerShell module generator both stand on it.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { packageRoot } from './package-root.js';

/** openapi/ams.yaml: the contract as written by hand. */
export const specPath = join(packageRoot, 'openapi', 'ams.yaml');

/**
 * The same document as JSON, which `npm run build` writes beside the compiled loader
 * (dist/openapi/ams.json, by scripts/build-contract.ts): parsing 113 KB of YAML at every start
 * took longer than everything else the daemon does before its first answer. Run from the sources
 * (tests), there is none beside this file and the YAML is read.
 */
export const builtSpecPath = fileURLToPath(new URL('./ams.json', import.meta.url));

export type JsonSchema = Record<string, unknown>;

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export interface ParameterObject {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  description?: string;
  schema?: JsonSchema;
}

export interface OperationObject {
  operationId: string;
  summary?: string;
  description?: string;
  tags?: string[];
  security?: Array<Record<string, string[]>>;
  parameters?: Array<ParameterObject | { $ref: string }>;
  requestBody?: { required?: boolean; content: Record<string, { schema: JsonSchema }> } | { $ref: string };
  responses: Record<string, unknown>;
  'x-ams-cmdlet'?: string;
  'x-ams-role'?: 'admin';
}

export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description?: string };
  security?: Array<Record<string, string[]>>;
  paths: Record<string, Partial<Record<HttpMethod, OperationObject>> & { parameters?: ParameterObject[] }>;
  components: Record<string, Record<string, unknown>>;
}

/** One operation of the contract, with everything the binder and the tests need resolved. */
export interface Operation {
  operationId: string;
  method: HttpMethod;
  /** The OpenAPI path, e.g. `/v1/api-keys/{id}`. */
  path: string;
  /** The same path in Fastify's syntax, e.g. `/v1/api-keys/:id`. */
  routePath: string;
  cmdlet: string | undefined;
  /** Whether a bearer token is required (false only for an explicit `security: []`). */
  authenticated: boolean;
  adminOnly: boolean;
  /** JSON Schemas for Fastify's validation and serialization. */
  schema: {
    params?: JsonSchema;
    querystring?: JsonSchema;
    body?: JsonSchema;
    response: Record<string, JsonSchema>;
  };
  definition: OperationObject;
}

/**
 * A contract from its text: YAML, or JSON (which YAML reads too). The YAML parser is loaded here, on
 * first use: a daemon started from a build reads the JSON and never needs it.
 */
export function parseSpec(text: string): OpenApiDocument {
  const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return parse(text) as OpenApiDocument;
}

/**
 * The contract from its files: the built JSON when there is one at least as new as the YAML (a YAML
 * edited since the last build is read itself, never shadowed by a stale copy), else the YAML.
 */
export function readSpec(files: { yaml: string; json: string } = { yaml: specPath, json: builtSpecPath }): OpenApiDocument {
  const json = modifiedMs(files.json);
  if (json !== undefined && json >= (modifiedMs(files.yaml) ?? 0)) return JSON.parse(readFileSync(files.json, 'utf8')) as OpenApiDocument;
  return parseSpec(readFileSync(files.yaml, 'utf8'));
}

/** JSON of the YAML contract, as the build writes it: the same document, key order and all. */
export function specAsJson(yamlPath = specPath): string {
  return JSON.stringify(parseSpec(readFileSync(yamlPath, 'utf8')));
}

function modifiedMs(file: string): number | undefined {
  return statSync(file, { throwIfNoEntry: false })?.mtimeMs;
}

let loaded: OpenApiDocument | undefined;

/**
 * openapi/ams.yaml, read once per process and shared by every part of it (the app, the CSV rule
 * import, the tests). Frozen, since it is shared: a caller that needs to change it changes a copy.
 */
export function loadSpec(): OpenApiDocument {
  loaded ??= deepFreeze(readSpec());
  return loaded;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Follows a local `#/components/...` reference. */
export function resolveRef<T>(doc: OpenApiDocument, value: T | { $ref: string }): T {
  let current: unknown = value;
  for (let hops = 0; isRef(current); hops++) {
    if (hops > 32) throw new Error(`Reference cycle at ${current.$ref}`);
    const ref = current.$ref;
    if (!ref.startsWith('#/')) throw new Error(`Only local references are supported, got ${ref}`);
    current = ref
      .slice(2)
      .split('/')
      .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], doc);
    if (current === undefined) throw new Error(`Unresolved reference ${ref}`);
  }
  return current as T;
}

function isRef(value: unknown): value is { $ref: string } {
  return typeof value === 'object' && value !== null && typeof (value as { $ref?: unknown }).$ref === 'string';
}

/** Keywords of OpenAPI's schema dialect that JSON Schema (and ajv's strict mode) does not know. */
const OPENAPI_ONLY_KEYWORDS = new Set(['example', 'xml', 'externalDocs', 'discriminator', 'nullable']);

/**
 * Turns an OpenAPI 3.0 schema into JSON Schema draft-07: references inlined (the contract has no
 * recursive schemas), `nullable` turned into a `null` type, annotations ajv rejects dropped.
 */
export function toJsonSchema(doc: OpenApiDocument, input: unknown): JsonSchema {
  const schema = resolveRef<JsonSchema>(doc, input as JsonSchema);
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (OPENAPI_ONLY_KEYWORDS.has(key) || key.startsWith('x-')) continue;
    switch (key) {
      case 'properties':
        out[key] = Object.fromEntries(
          Object.entries(value as Record<string, unknown>).map(([name, sub]) => [name, toJsonSchema(doc, sub)]),
        );
        break;
      case 'items':
      case 'not':
        out[key] = toJsonSchema(doc, value);
        break;
      case 'additionalProperties':
        out[key] = typeof value === 'boolean' ? value : toJsonSchema(doc, value);
        break;
      case 'allOf':
      case 'anyOf':
      case 'oneOf':
        out[key] = (value as unknown[]).map((sub) => toJsonSchema(doc, sub));
        break;
      default:
        out[key] = value;
    }
  }
  if (schema.nullable === true && typeof schema.type === 'string') out.type = [schema.type, 'null'];
  return out;
}

/** Every operation of the contract, in document order. */
export function listOperations(doc: OpenApiDocument): Operation[] {
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of HTTP_METHODS) {
      const definition = item[method];
      if (!definition) continue;
      const security = definition.security ?? doc.security ?? [];
      const parameters = [...(item.parameters ?? []), ...(definition.parameters ?? [])].map((p) =>
        resolveRef<ParameterObject>(doc, p),
      );
      operations.push({
        operationId: definition.operationId,
        method,
        path,
        routePath: path.replace(/\{([^}]+)\}/g, ':$1'),
        cmdlet: definition['x-ams-cmdlet'],
        authenticated: security.length > 0,
        adminOnly: definition['x-ams-role'] === 'admin',
        schema: {
          params: parameterSchema(doc, parameters, 'path'),
          querystring: parameterSchema(doc, parameters, 'query'),
          body: bodySchema(doc, definition),
          response: responseSchemas(doc, definition),
        },
        definition,
      });
    }
  }
  return operations;
}

function parameterSchema(doc: OpenApiDocument, parameters: ParameterObject[], where: 'path' | 'query') {
  const selected = parameters.filter((p) => p.in === where);
  // An operation without query parameters still refuses any: `?dryRun=true` must not be ignored and the change made.
  if (selected.length === 0 && where === 'path') return undefined;
  return {
    type: 'object',
    // Unknown query parameters are refused rather than ignored: a misspelt filter must not widen a result.
    additionalProperties: false,
    required: selected.filter((p) => p.required).map((p) => p.name),
    properties: Object.fromEntries(selected.map((p) => [p.name, toJsonSchema(doc, p.schema ?? {})])),
  };
}

function bodySchema(doc: OpenApiDocument, definition: OperationObject): JsonSchema | undefined {
  if (!definition.requestBody) return undefined;
  const body = resolveRef(doc, definition.requestBody);
  const json = body.content['application/json'];
  if (!json) throw new Error(`${definition.operationId}: only application/json request bodies are supported`);
  return toJsonSchema(doc, json.schema);
}

/** Schemas of the JSON success responses, by status code (errors are built by the error handler). */
function responseSchemas(doc: OpenApiDocument, definition: OperationObject): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  for (const [status, response] of Object.entries(definition.responses)) {
    if (!status.startsWith('2')) continue;
    const resolved = resolveRef<{ content?: Record<string, { schema: JsonSchema }> }>(doc, response as never);
    const json = resolved.content?.['application/json'];
    if (json) out[status] = toJsonSchema(doc, json.schema);
  }
  return out;
}
