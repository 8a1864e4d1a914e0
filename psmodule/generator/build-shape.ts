/**
 * Output shapes: the PowerShell type of each object a cmdlet emits and of the objects nested in it
 * (PSTypeNames from the component and its `allOf` bases, properties and how to convert each, the
 * `x-ams-flatten`ed children, `x-ams-table-columns`), registered once by key.
 */
import type { JsonSchema } from '../../openapi/contract.js';
import type { BuildContext } from './build-context.js';
import type { OutputKind, ShapeModel, ShapeProperty } from './model.js';
import { pascalCase } from './names.js';
import { descriptionOf, flatten, isDate, isSecret, propertiesOf, requiredOf, typeOf, type FlatSchema } from './schema.js';
import { columnFor } from './table-columns.js';

function typeKey(name: string): string {
  return name
    .split('.')
    .map((part) => pascalCase(part))
    .filter(Boolean)
    .join('.');
}

/** Registers (once) the shape of an object schema and of the objects nested in it; returns its key. */
export function shapeFor(b: BuildContext, flat: FlatSchema, fallback: string): string {
  const title = typeof flat.schema.title === 'string' ? flat.schema.title : undefined;
  const key = typeKey(flat.name ?? title ?? fallback) || 'Object';
  if (b.shapes.has(key)) return key;
  const shape: ShapeModel = {
    key,
    typeNames: [`Ams.${key}`, ...flat.baseNames.map((n) => `Ams.${typeKey(n)}`)],
    description: descriptionOf(flat.schema),
    properties: [],
    emitted: false,
  };
  b.shapes.set(key, shape);
  const required = requiredOf(flat.schema);
  for (const [wireName, node] of propertiesOf(flat.schema)) {
    const sub = flatten(b.doc, node);
    const property: ShapeProperty = {
      wireName,
      name: pascalCase(wireName) || wireName,
      kind: 'value',
      description: descriptionOf(node as JsonSchema, sub.schema),
      required: required.has(wireName),
    };
    const { type } = typeOf(sub.schema);
    const flattenRaw = (node as Record<string, unknown>)['x-ams-flatten'] ?? sub.schema['x-ams-flatten'];
    if (flattenRaw !== undefined) {
      const children = type === 'object' ? propertiesOf(sub.schema) : [];
      if (children.length === 0 || !(flattenRaw === true || (typeof flattenRaw === 'string' && children.some(([c]) => c === flattenRaw)))) {
        b.problems.push(`#/components/schemas/${flat.name ?? key}/properties/${wireName}/x-ams-flatten: true, or the name of the child property that takes the parent's name, on an object with properties`);
        continue;
      }
      shape.properties.push(...flattenedChildren(b, property, children, flattenRaw, key));
      continue;
    }
    // A secret shown once, at creation (a new API key), is emitted as it is: as a SecureString it
    // would be lost unless the caller had thought of keeping the object.
    if (isSecret(sub.schema)) property.kind = sub.schema['x-ams-show-once'] === true ? 'value' : 'secret';
    else if (isDate(sub.schema)) property.kind = 'datetime';
    else if (type === 'object' && propertiesOf(sub.schema).length > 0) {
      property.kind = 'object';
      property.shape = shapeFor(b, sub, `${key}${property.name}`);
    } else if (type === 'array') {
      const items = flatten(b.doc, sub.schema.items);
      const itemType = typeOf(items.schema).type;
      if (isSecret(items.schema)) property.kind = 'secrets';
      else if (isDate(items.schema)) property.kind = 'datetimes';
      else if (itemType === 'object' && propertiesOf(items.schema).length > 0) {
        property.kind = 'objects';
        property.shape = shapeFor(b, items, `${key}${property.name}Item`);
      } else property.kind = 'values';
    }
    shape.properties.push(property);
  }
  const seenNames = new Set<string>();
  for (const property of shape.properties) {
    if (seenNames.has(property.name.toLowerCase())) b.problems.push(`#/components/schemas/${flat.name ?? key}: two properties would be named ${property.name} (check x-ams-flatten)`);
    seenNames.add(property.name.toLowerCase());
  }
  const columns = flat.schema['x-ams-table-columns'];
  if (columns !== undefined) {
    if (!Array.isArray(columns) || !columns.every((c) => typeof c === 'string' && columnFor(b.shapes, shape, c))) {
      b.problems.push(
        `#/components/schemas/${flat.name ?? key}/x-ams-table-columns: must list property names of the schema (a dotted path such as user.displayName reaches into a nested object)`,
      );
    } else shape.tableColumns = columns as string[];
  }
  return key;
}

/** The children of a flattened object as properties of the parent: `Outcome`, `OutcomeSuccess`, `DeviceName`. */
function flattenedChildren(b: BuildContext, parent: ShapeProperty, children: Array<[string, unknown]>, valueChild: unknown, key: string): ShapeProperty[] {
  return children.map(([wireName, node]) => {
    const sub = flatten(b.doc, node);
    const child = pascalCase(wireName) || wireName;
    const name = wireName === valueChild ? parent.name : child.startsWith(parent.name) ? child : parent.name + child;
    const { type } = typeOf(sub.schema);
    const kind: OutputKind = isSecret(sub.schema) ? 'secret' : isDate(sub.schema) ? 'datetime' : type === 'array' ? 'values' : 'value';
    if (type === 'object') b.problems.push(`#/components/schemas/${key}: x-ams-flatten flattens one level; ${parent.wireName}.${wireName} is an object`);
    return { wireName, parentWire: parent.wireName, name, kind, description: descriptionOf(node as JsonSchema, sub.schema), required: false };
  });
}

export function hasSecrets(b: BuildContext, key: string, seen: Set<string>): boolean {
  if (seen.has(key)) return false;
  seen.add(key);
  const shape = b.shapes.get(key);
  if (!shape) return false;
  return shape.properties.some(
    (p) => p.kind === 'secret' || p.kind === 'secrets' || (p.shape !== undefined && hasSecrets(b, p.shape, seen)),
  );
}
