/**
 * From the contract to a model of the module (model.ts): one cmdlet per operation (build-cmdlet.ts)
 * and one output shape per type it emits (build-output.ts, build-shape.ts). Every problem is collected
 * with the JSON pointer of the node it comes from, and generation fails with all of them at once.
 *
 * Vendor extensions read (all optional except `x-ams-cmdlet`):
 * - operation: `x-ams-cmdlet` (the cmdlet's name), `x-ams-role: admin`, `x-ams-should-process`
 *   (true/false; default: true for POST/PUT/PATCH/DELETE unless the verb is a reading one such as Get or
 *   Test), `x-ams-confirm-impact` (High/Medium/Low; default High for Remove and DELETE), `x-ams-examples`
 *   (a list of `{ title, code, description }`), `x-ams-what-if-property` (a boolean body property, such
 *   as `dryRun`, that -WhatIf sets instead of skipping the call: the server reports what would happen);
 * - parameter or body property: `x-ams-parameter-name` (the PowerShell name, when the wire name is not
 *   the right one), `x-ams-aliases` (extra names, to bind from other cmdlets' output properties),
 *   `x-ams-pipeline` (true/false: bind from the pipeline by property name), `x-ams-position` (binds
 *   by position too), `x-ams-file-parameter` (on a string body property: the cmdlet takes a file path
 *   under this name instead, and sends the file's text);
 * - operation: `x-ams-output-file` (a string property of the answer the cmdlet writes to -Path, UTF-8
 *   with a byte order mark, instead of emitting the answer; -NoClobber keeps an existing file);
 * - component schema: `x-ams-table-columns` (wire names of the properties its table view shows);
 * - object property of an output schema: `x-ams-flatten` (true, or the child that takes the parent's
 *   name: its children become properties of the parent, `outcome.code` → `Outcome`);
 * - secret output property: `x-ams-show-once` (emitted as plain text: it is shown only this once);
 * - info: `x-ams-help-uri` (online help; `{operationId}` and `{cmdlet}` are replaced).
 *
 * Conventions: a response `{ items: [...] }` is emitted item by item; with `nextCursor` beside `items`
 * the operation must take a `cursor` query parameter, and the cmdlet pages through everything
 * (SupportsPaging: -First, -Skip), its `top` (or `limit`, `pageSize`) query parameter becoming
 * `-PageSize`. A request body whose `oneOf`/`anyOf` alternatives are only `required` lists gives one
 * parameter set per alternative.
 */
import { listOperations, type OpenApiDocument } from '../../openapi/contract.js';
import { buildCmdlet } from './build-cmdlet.js';
import { pointerOf, type BuildContext } from './build-context.js';
import { GenerationError, SESSION_CMDLETS, type CmdletModel, type ModuleModel } from './model.js';

/** The model of the module the contract describes; throws GenerationError with every problem found. */
export function buildModel(doc: OpenApiDocument): ModuleModel {
  const b: BuildContext = { doc, problems: [], warnings: [], shapes: new Map() };
  if (!doc || typeof doc !== 'object' || !doc.paths || typeof doc.paths !== 'object') {
    throw new GenerationError(['the document has no `paths`: is it an OpenAPI document?']);
  }
  const cmdlets: CmdletModel[] = [];
  const byName = new Map<string, string>();
  for (const name of SESSION_CMDLETS) byName.set(name.toLowerCase(), `the session cmdlet ${name} (written by hand)`);

  let operations;
  try {
    operations = listOperations(doc);
  } catch (error) {
    throw new GenerationError([(error as Error).message]);
  }
  for (const operation of operations) {
    const pointer = pointerOf('paths', operation.path, operation.method);
    const cmdlet = buildCmdlet(b, operation, pointer);
    if (!cmdlet) continue;
    const previous = byName.get(cmdlet.name.toLowerCase());
    if (previous) {
      b.problems.push(`${pointer}/x-ams-cmdlet: duplicate cmdlet ${cmdlet.name}: ${previous} has that name already. Every operation needs its own cmdlet.`);
      continue;
    }
    byName.set(cmdlet.name.toLowerCase(), `${operation.method.toUpperCase()} ${operation.path} (${cmdlet.operationId})`);
    cmdlets.push(cmdlet);
  }
  if (b.problems.length > 0) throw new GenerationError(b.problems);

  const helpUri = (doc.info as Record<string, unknown> | undefined)?.['x-ams-help-uri'];
  return {
    title: doc.info?.title ?? 'amsd',
    specVersion: doc.info?.version ?? '',
    description: doc.info?.description ?? '',
    ...(typeof helpUri === 'string' && helpUri ? { helpUri } : {}),
    cmdlets,
    shapes: b.shapes,
    warnings: b.warnings,
  };
}
