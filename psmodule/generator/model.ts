/**
 * The model of the module the generator builds from the contract (build-*.ts) and writes out
 * (emit-*.ts): one cmdlet per operation (its name, parameters, whether it changes state, what it
 * emits) and one output shape per type it emits; the session cmdlets written by hand; the error that
 * lists every problem of a contract. It imports nothing.
 */

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
