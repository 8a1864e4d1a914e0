/**
 * Parameter sets from a request body's `oneOf`/`anyOf`: one set per alternative that only lists
 * `required` properties (named by its `title`, else `By<Names>`), each of those mandatory in it.
 */
import { resolveRef, type JsonSchema } from '../../openapi/contract.js';
import type { BuildContext } from './build-context.js';
import type { ParameterModel } from './model.js';
import { isPlainIdentifier } from './names.js';

/** Parameter sets from `oneOf`/`anyOf` alternatives that only list required properties. */
export function bodyParameterSets(b: BuildContext, schema: JsonSchema, parameters: ParameterModel[], pointer: string): string[] {
  const keyword = Array.isArray(schema.oneOf) ? 'oneOf' : Array.isArray(schema.anyOf) ? 'anyOf' : undefined;
  if (!keyword) return [];
  const alternatives = (schema[keyword] as unknown[]).map((node) => resolveRef<JsonSchema>(b.doc, node as JsonSchema));
  const simple = alternatives.every(
    (alt) => Array.isArray(alt.required) && Object.keys(alt).every((key) => ['required', 'title', 'description'].includes(key)),
  );
  if (!simple) {
    b.warnings.push(`${pointer}/${keyword}: only alternatives made of \`required\` lists become parameter sets; this one is ignored`);
    return [];
  }
  const sets: string[] = [];
  alternatives.forEach((alt, index) => {
    const members = (alt.required as string[]).map((wire) => parameters.find((p) => p.in === 'body' && p.wireName === wire));
    if (members.some((m) => !m)) {
      b.problems.push(`${pointer}/${keyword}/${index}: requires a property the body does not define`);
      return;
    }
    const name = typeof alt.title === 'string' && isPlainIdentifier(alt.title) ? alt.title : 'By' + members.map((m) => m!.name).join('And');
    sets.push(name);
    for (const member of members) member!.mandatoryIn.push(name);
  });
  return sets;
}
