/**
 * What a cmdlet emits of its operation's success response: the object, a JSON array item by item,
 * `{ items }`, or `{ items, nextCursor }` page after page; and the output shape of what it emits.
 */
import { resolveRef, type OperationObject } from '../../openapi/contract.js';
import type { BuildContext } from './build-context.js';
import { hasSecrets, shapeFor } from './build-shape.js';
import type { OutputModel } from './model.js';
import { flatten, propertiesOf, typeOf, type FlatSchema } from './schema.js';

/** The success response, what the cmdlet emits of it, and the shapes of what it emits. */
export function buildOutput(b: BuildContext, op: OperationObject, pointer: string, noun: string): OutputModel | undefined {
  const statuses = Object.keys(op.responses ?? {})
    .filter((status) => /^2\d\d$/.test(status))
    .sort();
  for (const status of statuses) {
    const response = resolveRef<{ content?: Record<string, { schema?: unknown }> }>(b.doc, op.responses[status] as never);
    const json = response.content?.['application/json'];
    if (!json?.schema) continue;
    const responsePointer = `${pointer}/responses/${status}/content/application~1json/schema`;
    const flat = flatten(b.doc, json.schema);
    const { type } = typeOf(flat.schema);
    const fallback = noun.slice(3);
    if (type === 'array') {
      const items = flatten(b.doc, flat.schema.items);
      return emitted(b, 'each', items, fallback, responsePointer);
    }
    if (type === 'object') {
      const props = propertiesOf(flat.schema).map(([name]) => name);
      const itemsNode = (flat.schema.properties as Record<string, unknown> | undefined)?.items;
      const itemsFlat = itemsNode === undefined ? undefined : flatten(b.doc, itemsNode);
      if (itemsFlat && typeOf(itemsFlat.schema).type === 'array' && props.every((p) => p === 'items' || p === 'nextCursor')) {
        const item = flatten(b.doc, itemsFlat.schema.items);
        return emitted(b, props.includes('nextCursor') ? 'paged' : 'items', item, fallback, responsePointer);
      }
      return emitted(b, 'object', flat, fallback, responsePointer);
    }
    b.warnings.push(`${responsePointer}: a ${type ?? 'untyped'} response is emitted as it comes`);
    return undefined;
  }
  return undefined;
}

function emitted(b: BuildContext, emit: OutputModel['emit'], flat: FlatSchema, fallback: string, pointer: string): OutputModel {
  const { type } = typeOf(flat.schema);
  if (type !== 'object') {
    // Scalars (or arrays of them) are emitted as they are; a pseudo-shape would add nothing.
    b.warnings.push(`${pointer}: items of type ${type ?? 'untyped'} are emitted as they come`);
  }
  const key = shapeFor(b, flat, fallback);
  const shape = b.shapes.get(key)!;
  shape.emitted = true;
  return { emit, shape: key, typeName: shape.typeNames[0]!, secrets: hasSecrets(b, key, new Set()) };
}
