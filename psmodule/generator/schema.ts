/**
 * Schemas as the generator sees them: references followed, `allOf` merged, with the component name
 * kept (it becomes the PowerShell type name), and the OpenAPI 3.0 dialect (`nullable`) understood.
 */
import { resolveRef, type JsonSchema, type OpenApiDocument } from '../../openapi/contract.js';

const SCHEMA_PREFIX = '#/components/schemas/';

export interface FlatSchema {
  /** The component name when the schema is (a reference to) `#/components/schemas/<name>`. */
  name?: string;
  /** Names of the component schemas merged in through `allOf`, nearest first. */
  baseNames: string[];
  schema: JsonSchema;
}

function refOf(node: unknown): string | undefined {
  return typeof node === 'object' && node !== null && typeof (node as { $ref?: unknown }).$ref === 'string'
    ? (node as { $ref: string }).$ref
    : undefined;
}

/**
 * Follows references and merges `allOf` (properties and `required` of every member, then the schema's
 * own keywords over them). A single-member `allOf` used to put a description or default beside a
 * reference (`allOf: [$ref], default: Global`) comes out as the referenced schema with those keywords.
 */
export function flatten(doc: OpenApiDocument, node: unknown, depth = 0): FlatSchema {
  if (depth > 32) throw new Error('schema nesting deeper than 32 levels (a reference cycle through allOf?)');
  const ref = refOf(node);
  const name = ref?.startsWith(SCHEMA_PREFIX) ? ref.slice(SCHEMA_PREFIX.length) : undefined;
  const resolved = resolveRef<JsonSchema>(doc, (node ?? {}) as JsonSchema);
  const allOf = resolved.allOf as unknown[] | undefined;
  if (!Array.isArray(allOf)) return { ...(name ? { name } : {}), baseNames: [], schema: resolved };

  const merged: JsonSchema = {};
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  const baseNames: string[] = [];
  for (const member of allOf) {
    const flat = flatten(doc, member, depth + 1);
    if (flat.name) baseNames.push(flat.name);
    baseNames.push(...flat.baseNames);
    for (const [key, value] of Object.entries(flat.schema)) {
      if (key === 'properties') Object.assign(properties, value as Record<string, unknown>);
      else if (key === 'required') required.push(...(value as string[]));
      else merged[key] = value;
    }
  }
  for (const [key, value] of Object.entries(resolved)) {
    if (key === 'allOf') continue;
    if (key === 'properties') Object.assign(properties, value as Record<string, unknown>);
    else if (key === 'required') required.push(...(value as string[]));
    else merged[key] = value;
  }
  if (Object.keys(properties).length > 0) merged.properties = properties;
  if (required.length > 0) merged.required = [...new Set(required)];
  if (!merged.type && merged.properties) merged.type = 'object';
  // With a single member, the member *is* the type: `cloud: { allOf: [Cloud] }` is a Cloud.
  const singleName = allOf.length === 1 ? baseNames[0] : undefined;
  return {
    ...(name ? { name } : singleName && !resolved.properties ? { name: singleName } : {}),
    baseNames: name ? baseNames : singleName && !resolved.properties ? baseNames.slice(1) : baseNames,
    schema: merged,
  };
}

/** The schema's type, `nullable` and OpenAPI 3.1's `[type, 'null']` folded into one flag. */
export function typeOf(schema: JsonSchema): { type: string | undefined; nullable: boolean } {
  const type = schema.type;
  if (Array.isArray(type)) {
    const others = type.filter((t) => t !== 'null') as string[];
    return { type: others.length === 1 ? others[0] : undefined, nullable: type.includes('null') };
  }
  return { type: typeof type === 'string' ? type : schema.properties ? 'object' : undefined, nullable: schema.nullable === true };
}

export function isSecret(schema: JsonSchema): boolean {
  return schema.format === 'password';
}

export function isDate(schema: JsonSchema): boolean {
  return schema.format === 'date-time' || schema.format === 'date';
}

export function propertiesOf(schema: JsonSchema): Array<[string, unknown]> {
  return Object.entries((schema.properties as Record<string, unknown> | undefined) ?? {});
}

export function requiredOf(schema: JsonSchema): Set<string> {
  return new Set((schema.required as string[] | undefined) ?? []);
}

/** A string made of the schema's description, trimmed; empty when it has none. */
export function descriptionOf(...schemas: Array<JsonSchema | undefined>): string {
  for (const schema of schemas) {
    const text = schema?.description;
    if (typeof text === 'string' && text.trim()) return text.trim();
  }
  return '';
}
