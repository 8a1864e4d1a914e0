/**
 * One cmdlet from one operation: its name (`x-ams-cmdlet`), whether and how it asks before a change
 * (`x-ams-should-process`, `x-ams-confirm-impact`, `x-ams-what-if-property`), what it emits or writes
 * to a file (`x-ams-output-file`), its parameters, its examples (`x-ams-examples`), and for a change to
 * one object how a prompt names that object.
 */
import { resolveRef, type Operation, type OperationObject, type ParameterObject } from '../../openapi/contract.js';
import type { BuildContext } from './build-context.js';
import { buildOutput } from './build-output.js';
import { buildParameters } from './build-parameters.js';
import type { CmdletModel, ExampleModel } from './model.js';
import { checkCmdletName } from './names.js';
import { flatten, propertiesOf } from './schema.js';

/** Verbs whose cmdlets only read, even over POST (Test-AmsTenant): no ShouldProcess by default. */
const READING_VERBS = new Set([
  'Get', 'Test', 'Find', 'Search', 'Resolve', 'Measure', 'Compare', 'Read', 'Show', 'Ping', 'Trace', 'Watch', 'Select',
  'Format', 'ConvertFrom', 'ConvertTo',
]);

const CONFIRM_IMPACTS = ['High', 'Medium', 'Low'] as const;

/** The cmdlet of one operation, or undefined (with the problems recorded) when the contract does not make one. */
export function buildCmdlet(b: BuildContext, operation: Operation, pointer: string): CmdletModel | undefined {
  const { definition: op, method, path, authenticated, adminOnly } = operation;
  const ext = op as unknown as Record<string, unknown>;
  const rawName = op['x-ams-cmdlet'];
  if (typeof rawName !== 'string' || !rawName) {
    b.problems.push(`${pointer}: ${method.toUpperCase()} ${path} has no x-ams-cmdlet; every operation must name its cmdlet`);
    return undefined;
  }
  const checked = checkCmdletName(rawName);
  if (typeof checked === 'string') {
    b.problems.push(`${pointer}/x-ams-cmdlet: ${checked}`);
    return undefined;
  }
  const problemCount = b.problems.length;
  const summary = typeof op.summary === 'string' ? op.summary.trim() : '';
  if (!summary) b.problems.push(`${pointer}/summary: ${rawName} needs a summary (it becomes the help's synopsis)`);

  // State change.
  const explicitShouldProcess = ext['x-ams-should-process'];
  if (explicitShouldProcess !== undefined && typeof explicitShouldProcess !== 'boolean') {
    b.problems.push(`${pointer}/x-ams-should-process: must be true or false`);
  }
  const shouldProcess =
    typeof explicitShouldProcess === 'boolean' ? explicitShouldProcess : method !== 'get' && !READING_VERBS.has(checked.verb);
  const explicitImpact = ext['x-ams-confirm-impact'];
  if (explicitImpact !== undefined && !CONFIRM_IMPACTS.includes(explicitImpact as never)) {
    b.problems.push(`${pointer}/x-ams-confirm-impact: must be one of ${CONFIRM_IMPACTS.join(', ')}`);
  }
  let confirmImpact: CmdletModel['confirmImpact'];
  if (shouldProcess) {
    confirmImpact = CONFIRM_IMPACTS.includes(explicitImpact as never)
      ? (explicitImpact as CmdletModel['confirmImpact'])
      : checked.verb === 'Remove' || method === 'delete'
        ? 'High'
        : undefined;
  }

  const whatIfProperty = ext['x-ams-what-if-property'];
  if (whatIfProperty !== undefined && (typeof whatIfProperty !== 'string' || !shouldProcess)) {
    b.problems.push(`${pointer}/x-ams-what-if-property: must name a boolean body property of an operation that supports -WhatIf`);
  }

  // Output.
  const outputFile = ext['x-ams-output-file'];
  let output = buildOutput(b, op, pointer, checked.noun);
  if (outputFile !== undefined) {
    const shape = output ? b.shapes.get(output.shape) : undefined;
    if (typeof outputFile !== 'string' || output?.emit !== 'object' || !shape?.properties.some((p) => p.wireName === outputFile && p.kind === 'value')) {
      b.problems.push(`${pointer}/x-ams-output-file: must name a string property of the JSON object the operation answers`);
    }
    if (shape) shape.emitted = false;
    output = undefined;
  }
  const paged = output?.emit === 'paged';

  // Parameters.
  const { parameters, parameterSets, cursorParameter, hasBody } = buildParameters(b, {
    op,
    path,
    pointer,
    cmdlet: rawName,
    paged,
    shouldProcess,
    ...(typeof whatIfProperty === 'string' ? { whatIfProperty } : {}),
  });

  if (shouldProcess && !output && ['New', 'Set', 'Add', 'Update', 'Enable', 'Disable'].includes(checked.verb)) {
    b.warnings.push(`${pointer}: ${rawName} changes something but the operation answers no JSON, so the cmdlet emits nothing; answer the object as it now stands`);
  }
  const examples = readExamples(b, ext['x-ams-examples'], `${pointer}/x-ams-examples`);
  const eachParameters = parameters.filter((p) => p.valueFromPipeline);
  if (eachParameters.length > 1) {
    b.problems.push(`${pointer}: only one parameter of ${rawName} can take values from the pipeline (x-ams-value-from-pipeline): ${eachParameters.map((p) => p.name).join(', ')}`);
  }
  const subjectKind = shouldProcess ? subjectWords(checked.noun) : undefined;
  const namedBy = shouldProcess && subjectKind && parameters.some((p) => p.in === 'path') ? namingOfGet(b, path, subjectKind) : undefined;
  if (b.problems.length > problemCount) return undefined;
  return {
    name: rawName,
    verb: checked.verb,
    noun: checked.noun,
    operationId: op.operationId,
    method: method.toUpperCase(),
    path,
    pointer,
    summary,
    description: typeof op.description === 'string' ? op.description.trim() : '',
    tags: op.tags ?? [],
    adminOnly,
    authenticated,
    parameters,
    parameterSets,
    shouldProcess,
    ...(confirmImpact ? { confirmImpact } : {}),
    force: confirmImpact === 'High',
    asPlainText: output?.secrets === true,
    hasBody,
    ...(output ? { output } : {}),
    ...(cursorParameter ? { cursorParameter } : {}),
    ...(typeof whatIfProperty === 'string' ? { whatIfProperty } : {}),
    ...(subjectKind ? { subjectKind } : {}),
    ...(namedBy ? { namedBy } : {}),
    ...(typeof outputFile === 'string' ? { outputFile } : {}),
    examples,
  };
}

/** Words PowerShell users read as one (ApiKey is an "API key"). */
const ACRONYMS: Record<string, string> = { api: 'API', fve: 'BitLocker' };

/** `AmsComputerAuthorizationRule` → `computer authorization rule`. */
function subjectWords(noun: string): string {
  return noun
    .replace(/^Ams/, '')
    .split(/(?=[A-Z][a-z])/)
    .map((word) => ACRONYMS[word.toLowerCase()] ?? word.toLowerCase())
    .join(' ');
}

/** Properties that name an object, in the order they are preferred. */
const NAMING_PROPERTIES = ['displayName', 'name', 'description'];

/**
 * How to name the object a path like `/v1/tenants/{tenantId}` changes: the collection's GET
 * (`/v1/tenants`) filtered by the same name (`?tenantId=`), and the property that names its items.
 */
function namingOfGet(b: BuildContext, path: string, kind: string): CmdletModel['namedBy'] {
  const match = /^(.*)\/\{([^}]+)\}$/.exec(path);
  if (!match) return undefined;
  const [, listPath, idName] = match as unknown as [string, string, string];
  const get = (b.doc.paths[listPath] as Record<string, OperationObject | undefined> | undefined)?.get;
  const filters = (get?.parameters ?? []).map((raw) => resolveRef<ParameterObject>(b.doc, raw as ParameterObject));
  if (!get || !filters.some((p) => p.in === 'query' && p.name === idName)) return undefined;
  for (const [status, raw] of Object.entries(get.responses ?? {})) {
    if (!/^2\d\d$/.test(status)) continue;
    const schema = resolveRef<{ content?: Record<string, { schema?: unknown }> }>(b.doc, raw as never).content?.['application/json']?.schema;
    if (!schema) continue;
    let object = flatten(b.doc, schema).schema;
    const items = (object.properties as Record<string, unknown> | undefined)?.items;
    if (items !== undefined) object = flatten(b.doc, flatten(b.doc, items).schema.items).schema;
    const names = new Set(propertiesOf(object).map(([name]) => name));
    const property = NAMING_PROPERTIES.find((name) => names.has(name));
    return property ? { kind, property, listPath, query: idName } : undefined;
  }
  return undefined;
}

function readExamples(b: BuildContext, raw: unknown, pointer: string): ExampleModel[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    b.problems.push(`${pointer}: must be a list of examples ({ title, code, description } or a string of code)`);
    return [];
  }
  const examples: ExampleModel[] = [];
  raw.forEach((entry, index) => {
    if (typeof entry === 'string' && entry.trim()) examples.push({ code: entry.trim() });
    else if (entry && typeof entry === 'object' && typeof (entry as ExampleModel).code === 'string') {
      const e = entry as ExampleModel;
      examples.push({
        code: e.code.trim(),
        ...(typeof e.title === 'string' ? { title: e.title.trim() } : {}),
        ...(typeof e.description === 'string' ? { description: e.description.trim() } : {}),
      });
    } else b.problems.push(`${pointer}/${index}: an example needs \`code\``);
  });
  return examples;
}
