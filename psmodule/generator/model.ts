/**
 * From the contract to a model of the module: one cmdlet per operation (its name, parameters, whether it
 * changes state, what it emits) and one output shape per type it emits. Every problem is collected with
 * the JSON pointer of the node it comes from, and generation fails with all of them at once.
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
import { listOperations, resolveRef, type JsonSchema, type OpenApiDocument, type OperationObject, type ParameterObject } from '../../daemon/http/spec.js';
import { checkCmdletName, isPlainIdentifier, pascalCase, reservedParameterReason } from './names.js';
import { columnFor } from './emit-format.js';
import { descriptionOf, flatten, isDate, isSecret, propertiesOf, requiredOf, typeOf, type FlatSchema } from './schema.js';

/** The cmdlets written as templates rather than generated from operations. */
export const SESSION_CMDLETS = ['Connect-AmsServer', 'Disconnect-AmsServer', 'Get-AmsConnection'] as const;

export type InputType =
  | 'string'
  | 'int'
  | 'long'
  | 'double'
  | 'datetime'
  | 'switch'
  | 'bool'
  | 'SecureString'
  | 'string[]'
  | 'int[]'
  | 'long[]'
  | 'double[]'
  | 'datetime[]'
  | 'hashtable'
  | 'hashtable[]'
  | 'object';

export interface ParameterModel {
  /** The PowerShell name, PascalCase. */
  name: string;
  /** The name on the wire (path placeholder, query key or body property). */
  wireName: string;
  in: 'path' | 'query' | 'body';
  type: InputType;
  /** Mandatory in every parameter set. */
  required: boolean;
  /** Parameter sets in which it is mandatory (from `oneOf` alternatives of the body). */
  mandatoryIn: string[];
  validateSet?: string[];
  validateLength?: [number, number];
  validateRange?: [number, number];
  validatePattern?: string;
  /** The body accepts null: an empty string is sent as null. */
  nullable: boolean;
  pipeline: boolean;
  aliases: string[];
  description: string;
  /** The schema's `format` (uuid, uri, ...), for help and examples. */
  format?: string;
  defaultValue?: unknown;
  example?: unknown;
  position?: number;
  /** The parameter is a file path; the body property gets the file's text. */
  fromFile?: boolean;
  /**
   * Takes many values, from the pipeline too (`'PC1','PC2' | Get-AmsLocalAdminPassword`,
   * `-ComputerName PC1,PC2`): the cmdlet makes one request per value (`x-ams-value-from-pipeline`).
   */
  valueFromPipeline?: boolean;
  /**
   * Wire names of the fields this one replaces when both are bound (`x-ams-overrides`): it is then in
   * every parameter set, so that a piped object binding both is taken by it.
   */
  overrides?: string[];
  pointer: string;
}

export type OutputKind = 'value' | 'datetime' | 'secret' | 'object' | 'objects' | 'datetimes' | 'secrets' | 'values';

export interface ShapeProperty {
  wireName: string;
  /**
   * Set on the properties of a nested object that is flattened into its parent (`x-ams-flatten`): the
   * parent's wire name. `outcome.code` becomes `Outcome`, `device.deviceName` `DeviceName`, so that
   * `Where-Object Outcome -eq 'ExplicitlyDenied'` and `Group-Object Outcome` work as they read.
   */
  parentWire?: string;
  name: string;
  kind: OutputKind;
  /** The nested shape of an object or of the items of an array of objects. */
  shape?: string;
  description: string;
  required: boolean;
}

export interface ShapeModel {
  key: string;
  /** PSTypeNames, most specific first: `Ams.CreatedApiKey`, `Ams.ApiKey`. */
  typeNames: string[];
  description: string;
  properties: ShapeProperty[];
  /** Wire names of the properties the table view shows, when the spec says (`x-ams-table-columns`). */
  tableColumns?: string[];
  /** Whether a cmdlet emits it directly (only those get a view). */
  emitted: boolean;
}

export interface OutputModel {
  /** `object`: the response; `each`: a JSON array, item by item; `items`: `{ items }`; `paged`: `{ items, nextCursor }` page after page. */
  emit: 'object' | 'each' | 'items' | 'paged';
  shape: string;
  typeName: string;
  /** Whether secrets are in it (then the cmdlet has -AsPlainText). */
  secrets: boolean;
}

export interface ExampleModel {
  title?: string;
  code: string;
  description?: string;
}

export interface CmdletModel {
  name: string;
  verb: string;
  noun: string;
  operationId: string;
  method: string;
  path: string;
  pointer: string;
  summary: string;
  description: string;
  tags: string[];
  adminOnly: boolean;
  authenticated: boolean;
  parameters: ParameterModel[];
  /** Parameter set names, default first; empty when the cmdlet has one set. */
  parameterSets: string[];
  shouldProcess: boolean;
  confirmImpact?: 'High' | 'Medium' | 'Low';
  force: boolean;
  asPlainText: boolean;
  hasBody: boolean;
  output?: OutputModel;
  /** The wire name of the cursor query parameter of a paged operation. */
  cursorParameter?: string;
  /** The boolean body property -WhatIf sets (the call is made, and the server says what would happen). */
  whatIfProperty?: string;
  /**
   * The string property of the answer the cmdlet writes to the file -Path names, instead of emitting
   * the answer (`x-ams-output-file`: Export-AmsComputerAuthorizationRule).
   */
  outputFile?: string;
  /** What it acts on, in words (`computer authorization rule`), for -WhatIf and -Confirm. */
  subjectKind?: string;
  /**
   * For a change to one object by id: the property of the object's GET answer that names it, fetched
   * when a prompt or -WhatIf will show it ("Remove computer authorization rule 'Helpdesk' (id)").
   */
  namedBy?: { kind: string; property: string; listPath: string; query: string };
  examples: ExampleModel[];
}

export interface ModuleModel {
  title: string;
  specVersion: string;
  description: string;
  helpUri?: string;
  /** In document order. */
  cmdlets: CmdletModel[];
  shapes: Map<string, ShapeModel>;
  warnings: string[];
}

export class GenerationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Cannot generate the AccessManager module from this spec:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'GenerationError';
  }
}

/** Verbs whose cmdlets only read, even over POST (Test-AmsTenant): no ShouldProcess by default. */
const READING_VERBS = new Set([
  'Get', 'Test', 'Find', 'Search', 'Resolve', 'Measure', 'Compare', 'Read', 'Show', 'Ping', 'Trace', 'Watch', 'Select',
  'Format', 'ConvertFrom', 'ConvertTo',
]);

const CONFIRM_IMPACTS = ['High', 'Medium', 'Low'] as const;

/**
 * Query parameters that set how many items a page holds. In a cmdlet that pages through everything
 * they become -PageSize: -Top or -Limit would promise a total the cmdlet does not stop at (-First does).
 */
const PAGE_SIZE_PARAMETERS = new Set(['top', 'limit', 'pageSize']);

/** JSON pointer escaping (RFC 6901). */
export function pointerOf(...parts: string[]): string {
  return '#/' + parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
}

interface Builder {
  doc: OpenApiDocument;
  problems: string[];
  warnings: string[];
  shapes: Map<string, ShapeModel>;
}

export function buildModel(doc: OpenApiDocument): ModuleModel {
  const b: Builder = { doc, problems: [], warnings: [], shapes: new Map() };
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
    const cmdlet = buildCmdlet(b, operation.definition, operation.method, operation.path, pointer, operation.authenticated, operation.adminOnly);
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

function buildCmdlet(
  b: Builder,
  op: OperationObject,
  method: string,
  path: string,
  pointer: string,
  authenticated: boolean,
  adminOnly: boolean,
): CmdletModel | undefined {
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
function namingOfGet(b: Builder, path: string, kind: string): CmdletModel['namedBy'] {
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

interface ParameterInput {
  wireName: string;
  in: 'path' | 'query' | 'body';
  schemaNode: unknown;
  extensions: Record<string, unknown>;
  required: boolean;
  description: string;
  pointer: string;
  shouldProcess: boolean;
  defaultName?: string | undefined;
}

function buildParameter(b: Builder, input: ParameterInput): ParameterModel | undefined {
  const flat = flatten(b.doc, input.schemaNode);
  const schema = flat.schema;
  const { nullable } = typeOf(schema);
  const explicitName = input.extensions['x-ams-parameter-name'];
  const fileParameter = input.extensions['x-ams-file-parameter'];
  const name =
    typeof fileParameter === 'string' && fileParameter
      ? fileParameter
      : typeof explicitName === 'string' && explicitName
        ? explicitName
        : (input.defaultName ?? pascalCase(input.wireName));

  let type = inputType(b, flat, input.pointer);
  if (!type) return undefined;
  if (fileParameter !== undefined && (typeof fileParameter !== 'string' || type !== 'string' || input.in !== 'body')) {
    b.problems.push(`${input.pointer}/x-ams-file-parameter: must name the path parameter of a string body property`);
  }
  // A required boolean must be given either way: a switch cannot say false by being left out.
  if (type === 'switch' && input.required) type = 'bool';

  const aliasesRaw = input.extensions['x-ams-aliases'];
  let aliases: string[] = [];
  if (aliasesRaw !== undefined) {
    if (!Array.isArray(aliasesRaw) || !aliasesRaw.every((a) => typeof a === 'string')) {
      b.problems.push(`${input.pointer}/x-ams-aliases: must be a list of names`);
    } else {
      aliases = [...aliasesRaw];
    }
  }
  const eachRaw = input.extensions['x-ams-value-from-pipeline'];
  if (eachRaw !== undefined && (eachRaw !== true || type !== 'string' || input.in === 'path')) {
    b.problems.push(`${input.pointer}/x-ams-value-from-pipeline: only true, on a string query or body field`);
  }
  const valueFromPipeline = eachRaw === true && type === 'string' && input.in !== 'path';
  if (valueFromPipeline) type = 'string[]';
  const pipelineRaw = input.extensions['x-ams-pipeline'];
  if (pipelineRaw !== undefined && typeof pipelineRaw !== 'boolean') b.problems.push(`${input.pointer}/x-ams-pipeline: must be true or false`);
  const identifier = input.wireName === 'id' || /[a-z0-9]Id$/.test(input.wireName);
  const pipeline =
    typeof pipelineRaw === 'boolean'
      ? pipelineRaw
      : input.in === 'path' || aliases.length > 0 || (!input.shouldProcess && identifier && (type === 'string' || type === 'string[]'));

  const model: ParameterModel = {
    name,
    wireName: input.wireName,
    in: input.in,
    type,
    required: input.required,
    mandatoryIn: [],
    nullable: nullable && input.in === 'body',
    pipeline,
    aliases,
    description: input.description || descriptionOf(schema),
    pointer: input.pointer,
    ...(valueFromPipeline ? { valueFromPipeline } : {}),
  };
  const overrides = input.extensions['x-ams-overrides'];
  if (overrides !== undefined) {
    if (Array.isArray(overrides) && overrides.every((o) => typeof o === 'string') && input.in === 'body') model.overrides = overrides;
    else b.problems.push(`${input.pointer}/x-ams-overrides: must list the wire names of other body fields`);
  }
  if (typeof schema.format === 'string') model.format = schema.format;
  if (schema.default !== undefined) model.defaultValue = schema.default;
  if (schema.example !== undefined) model.example = schema.example;
  const position = input.extensions['x-ams-position'];
  if (position !== undefined) {
    if (typeof position === 'number' && Number.isInteger(position) && position >= 0) model.position = position;
    else b.problems.push(`${input.pointer}/x-ams-position: must be a whole number from 0`);
  }
  if (typeof fileParameter === 'string' && fileParameter) {
    model.fromFile = true;
    model.description = `The file whose text is sent as ${input.wireName}. ${model.description}`.trim();
    return isPlainIdentifier(name) ? model : undefined;
  }

  // Validation attributes, where PowerShell can check what the server will.
  const items = type.endsWith('[]') ? flatten(b.doc, schema.items).schema : undefined;
  const enumValues = (items ?? schema).enum;
  const validates = !model.nullable && type !== 'SecureString';
  if (Array.isArray(enumValues) && enumValues.every((v) => typeof v === 'string') && validates) model.validateSet = enumValues;
  if ((type === 'string' || model.valueFromPipeline) && validates && !model.validateSet) {
    const min = schema.minLength;
    const max = schema.maxLength;
    if (typeof min === 'number' || typeof max === 'number') {
      model.validateLength = [typeof min === 'number' ? min : 0, typeof max === 'number' ? max : 2147483647];
    }
    if (typeof schema.pattern === 'string') model.validatePattern = schema.pattern;
  }
  if (type === 'int' && validates) {
    let min = typeof schema.minimum === 'number' ? schema.minimum : undefined;
    let max = typeof schema.maximum === 'number' ? schema.maximum : undefined;
    if (min !== undefined && schema.exclusiveMinimum === true) min += 1;
    if (max !== undefined && schema.exclusiveMaximum === true) max -= 1;
    if (min !== undefined || max !== undefined) model.validateRange = [min ?? -2147483648, max ?? 2147483647];
  }
  if (!model.description.trim()) {
    b.problems.push(`${input.pointer}: ${input.wireName} needs a description: it is the help of the parameter -${name}, and says what a user needs to know to give it`);
  }
  if (!isPlainIdentifier(name)) {
    b.problems.push(`${input.pointer}: "${input.wireName}" gives the parameter name "${name}", which is not a plain PowerShell identifier; set x-ams-parameter-name`);
    return undefined;
  }
  return model;
}

function inputType(b: Builder, flat: FlatSchema, pointer: string): InputType | undefined {
  const schema = flat.schema;
  const { type } = typeOf(schema);
  if (isSecret(schema)) {
    if (type !== 'string') {
      b.problems.push(`${pointer}: format password is for strings, not ${type ?? 'untyped'} values`);
      return undefined;
    }
    return 'SecureString';
  }
  switch (type) {
    case 'string':
      return isDate(schema) ? 'datetime' : 'string';
    case 'integer':
      return schema.format === 'int64' ? 'long' : 'int';
    case 'number':
      return 'double';
    case 'boolean':
      // A switch is off unless given: right for booleans that default to false (or have no default).
      return schema.default === true ? 'bool' : 'switch';
    case 'object':
      return 'hashtable';
    case 'array': {
      const items = flatten(b.doc, schema.items);
      const itemType = typeOf(items.schema).type;
      if (isSecret(items.schema)) {
        b.problems.push(`${pointer}: arrays of secrets (format password) are not supported as parameters`);
        return undefined;
      }
      switch (itemType) {
        case 'string':
          return isDate(items.schema) ? 'datetime[]' : 'string[]';
        case 'integer':
          return items.schema.format === 'int64' ? 'long[]' : 'int[]';
        case 'number':
          return 'double[]';
        case 'object':
          return 'hashtable[]';
        default:
          b.problems.push(`${pointer}: arrays of ${itemType ?? 'untyped'} items are not supported as parameters`);
          return undefined;
      }
    }
    default:
      return 'object';
  }
}

/** Parameter sets from `oneOf`/`anyOf` alternatives that only list required properties. */
function bodyParameterSets(b: Builder, schema: JsonSchema, parameters: ParameterModel[], pointer: string): string[] {
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

function checkParameterNames(b: Builder, parameters: ParameterModel[], cmdlet: string) {
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

function readExamples(b: Builder, raw: unknown, pointer: string): ExampleModel[] {
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

/** The success response, what the cmdlet emits of it, and the shapes of what it emits. */
function buildOutput(b: Builder, op: OperationObject, pointer: string, noun: string): OutputModel | undefined {
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

function emitted(b: Builder, emit: OutputModel['emit'], flat: FlatSchema, fallback: string, pointer: string): OutputModel {
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

function typeKey(name: string): string {
  return name
    .split('.')
    .map((part) => pascalCase(part))
    .filter(Boolean)
    .join('.');
}

/** Registers (once) the shape of an object schema and of the objects nested in it; returns its key. */
function shapeFor(b: Builder, flat: FlatSchema, fallback: string): string {
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
function flattenedChildren(b: Builder, parent: ShapeProperty, children: Array<[string, unknown]>, valueChild: unknown, key: string): ShapeProperty[] {
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

function hasSecrets(b: Builder, key: string, seen: Set<string>): boolean {
  if (seen.has(key)) return false;
  seen.add(key);
  const shape = b.shapes.get(key);
  if (!shape) return false;
  return shape.properties.some(
    (p) => p.kind === 'secret' || p.kind === 'secrets' || (p.shape !== undefined && hasSecrets(b, p.shape, seen)),
  );
}
