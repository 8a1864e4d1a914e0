/**
 * The parameters of a cmdlet: its operation's path and query parameters (a paged operation's `cursor`
 * is the cmdlet's own business, its page size becomes -PageSize), then the properties of its JSON
 * request body, with the parameter sets the body's alternatives make; names checked against each
 * other and against PowerShell's own.
 */
import { resolveRef, type JsonSchema, type OperationObject, type ParameterObject } from '../../openapi/contract.js';
import { pointerOf, type BuildContext } from './build-context.js';
import { buildParameter } from './build-parameter.js';
import { bodyParameterSets } from './build-parameter-sets.js';
import type { ParameterModel } from './model.js';
import { isPlainIdentifier, reservedParameterReason } from './names.js';
import { descriptionOf, flatten, propertiesOf, requiredOf, typeOf } from './schema.js';

/**
 * Query parameters that set how many items a page holds. In a cmdlet that pages through everything
 * they become -PageSize: -Top or -Limit would promise a total the cmdlet does not stop at (-First does).
 */
const PAGE_SIZE_PARAMETERS = new Set(['top', 'limit', 'pageSize']);

export interface ParametersInput {
  op: OperationObject;
  path: string;
  pointer: string;
  /** The cmdlet's name, for the problems. */
  cmdlet: string;
  /** The cmdlet pages through everything: `cursor` is not a parameter, the page size is -PageSize. */
  paged: boolean;
  shouldProcess: boolean;
  /** The body property -WhatIf sets, which is no parameter of its own. */
  whatIfProperty?: string;
}

export interface CmdletParameters {
  parameters: ParameterModel[];
  /** Parameter set names, default first; empty when the cmdlet has one set. */
  parameterSets: string[];
  /** The wire name of the cursor query parameter of a paged operation. */
  cursorParameter: string | undefined;
  hasBody: boolean;
}

/** Every parameter of the cmdlet, path parameters first (positional, in path order), and its parameter sets. */
export function buildParameters(b: BuildContext, input: ParametersInput): CmdletParameters {
  const { op, path, pointer, cmdlet: rawName, paged, shouldProcess, whatIfProperty } = input;
  const parameters: ParameterModel[] = [];
  const parameterSets: string[] = [];
  const pathItem = b.doc.paths[path] as { parameters?: unknown[] } | undefined;
  const rawParameters = [...(pathItem?.parameters ?? []), ...(op.parameters ?? [])];
  let cursorParameter: string | undefined;
  let position = 0;
  rawParameters.forEach((raw, index) => {
    const fromPathItem = index < (pathItem?.parameters?.length ?? 0);
    const paramPointer = fromPathItem ? pointerOf('paths', path, 'parameters', String(index)) : `${pointer}/parameters/${index - (pathItem?.parameters?.length ?? 0)}`;
    const p = resolveRef<ParameterObject>(b.doc, raw as ParameterObject);
    if (p.in !== 'path' && p.in !== 'query') {
      if (p.in === 'header' || p.in === 'cookie') b.warnings.push(`${paramPointer}: ${p.in} parameter ${p.name} is not exposed by the cmdlet`);
      return;
    }
    if (paged && p.in === 'query' && p.name === 'cursor') {
      cursorParameter = p.name;
      return;
    }
    const model = buildParameter(b, {
      wireName: p.name,
      in: p.in,
      schemaNode: p.schema ?? {},
      extensions: p as unknown as Record<string, unknown>,
      required: p.in === 'path' || p.required === true,
      description: p.description ?? '',
      pointer: paramPointer,
      shouldProcess,
      defaultName: paged && p.in === 'query' && PAGE_SIZE_PARAMETERS.has(p.name) ? 'PageSize' : undefined,
    });
    if (!model) return;
    if (p.in === 'path') model.position = position++;
    parameters.push(model);
  });
  for (const placeholder of path.match(/\{[^}]+\}/g) ?? []) {
    const wire = placeholder.slice(1, -1);
    if (!parameters.some((p) => p.in === 'path' && p.wireName === wire)) {
      b.problems.push(`${pointer}: the path has {${wire}} but the operation declares no path parameter of that name`);
    }
  }
  if (paged && !cursorParameter) {
    b.problems.push(`${pointer}: the response has nextCursor, so ${rawName} pages; the operation needs a \`cursor\` query parameter to ask for the next page`);
  }

  let hasBody = false;
  if (op.requestBody) {
    hasBody = true;
    const body = resolveRef(b.doc, op.requestBody);
    const json = body.content?.['application/json'];
    const bodyPointer = `${pointer}/requestBody/content/application~1json/schema`;
    if (!json) {
      b.problems.push(`${pointer}/requestBody: only application/json request bodies are supported`);
    } else {
      const flat = flatten(b.doc, json.schema);
      const { type } = typeOf(flat.schema);
      if (type !== 'object') {
        b.problems.push(`${bodyPointer}: the request body must be an object (its properties become parameters), not ${type ?? 'untyped'}`);
      } else {
        const required = requiredOf(flat.schema);
        for (const [wireName, node] of propertiesOf(flat.schema)) {
          const property = flatten(b.doc, node);
          if (property.schema.readOnly === true) continue;
          if (wireName === whatIfProperty) continue; // set by -WhatIf, not a parameter of its own
          const model = buildParameter(b, {
            wireName,
            in: 'body',
            schemaNode: node,
            extensions: { ...property.schema, ...(node as Record<string, unknown>) },
            required: required.has(wireName),
            description: descriptionOf(node as JsonSchema, property.schema),
            pointer: `${bodyPointer}/properties/${wireName.replace(/~/g, '~0').replace(/\//g, '~1')}`,
            shouldProcess,
          });
          if (model) parameters.push(model);
        }
        parameterSets.push(...bodyParameterSets(b, flat.schema, parameters, bodyPointer));
      }
    }
  }

  checkParameterNames(b, parameters, rawName);
  return { parameters, parameterSets, cursorParameter, hasBody };
}

/** No two parameters or aliases of one cmdlet share a name, and none takes a name PowerShell reserves. */
function checkParameterNames(b: BuildContext, parameters: ParameterModel[], cmdlet: string) {
  const seen = new Map<string, string>();
  for (const p of parameters) {
    const reason = reservedParameterReason(p.name);
    if (reason) {
      b.problems.push(`${p.pointer}: ${cmdlet} cannot have a parameter named ${p.name}: it collides with ${reason}; rename the field or set x-ams-parameter-name`);
      continue;
    }
    for (const name of [p.name, ...p.aliases]) {
      const key = name.toLowerCase();
      const previous = seen.get(key);
      if (previous) {
        b.problems.push(`${p.pointer}: ${cmdlet} would have two parameters (or aliases) named ${name}: ${previous} and the ${p.in} field ${p.wireName}`);
      } else if (name !== p.name && !isPlainIdentifier(name)) {
        b.problems.push(`${p.pointer}/x-ams-aliases: "${name}" is not a plain PowerShell identifier`);
      } else if (name !== p.name && reservedParameterReason(name)) {
        b.problems.push(`${p.pointer}/x-ams-aliases: the alias ${name} collides with ${reservedParameterReason(name)}`);
      }
      seen.set(key, `the ${p.in} field ${p.wireName}`);
    }
  }
}
