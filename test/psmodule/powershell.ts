/**
 * PowerShell's grammar for the tests, without pwsh: tree-sitter-powershell's WebAssembly build run by
 * web-tree-sitter (no native build, no install script). Plus small readers of the syntax tree and a
 * builder of synthetic specs.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { Language, Parser, type Node, type Tree } from 'web-tree-sitter';
import type { OpenApiDocument } from '../../openapi/contract.js';

const require = createRequire(import.meta.url);
let parser: Promise<Parser> | undefined;

async function loadParser(): Promise<Parser> {
  // V8 optimizes the grammar's WebAssembly in the background after the first parse, and node waits for
  // that at exit: 8 s per test file. The baseline compiler alone parses the whole module in 0.1 s.
  setFlagsFromString('--liftoff-only');
  await Parser.init();
  const grammarDir = dirname(require.resolve('tree-sitter-powershell/package.json'));
  const language = await Language.load(join(grammarDir, 'tree-sitter-powershell.wasm'));
  const p = new Parser();
  p.setLanguage(language);
  return p;
}

export async function parsePowerShell(source: string): Promise<Tree> {
  parser ??= loadParser();
  const tree = (await parser).parse(source.replace(/^\uFEFF/, ''));
  if (!tree) throw new Error('tree-sitter returned no tree');
  return tree;
}

/** ERROR and MISSING nodes, as `line:column text`. */
export function syntaxErrors(tree: Tree): string[] {
  const found: string[] = [];
  const visit = (node: Node) => {
    if (node.isError || node.isMissing) {
      found.push(`${node.startPosition.row + 1}:${node.startPosition.column + 1} ${node.isMissing ? 'missing ' : ''}${node.type} ${JSON.stringify(node.text.slice(0, 60))}`);
      return;
    }
    if (node.hasError) for (const child of node.children) if (child) visit(child);
  };
  visit(tree.rootNode);
  return found;
}

export function descendants(node: Node, type: string): Node[] {
  return node.descendantsOfType(type).filter((n): n is Node => n !== null);
}

export interface FunctionInfo {
  name: string;
  node: Node;
  /** The comment-based help block (the first comment inside the function), or undefined. */
  help?: string;
  /** Parameter names, without `$`. */
  parameters: string[];
  /** The attribute source text of each parameter, by name. */
  parameterAttributes: Map<string, string[]>;
  /** `Name = value` arguments of [CmdletBinding(...)]. */
  cmdletBinding?: Map<string, string>;
  outputType?: string;
}

/** The function statements of a script, with what the tests look at. */
export function functionsOf(tree: Tree): FunctionInfo[] {
  return descendants(tree.rootNode, 'function_statement').map((node) => {
    const name = node.children.find((c) => c?.type === 'function_name')?.text ?? '';
    const help = node.children.find((c) => c?.type === 'comment')?.text;
    const block = node.children.find((c) => c?.type === 'script_block');
    const paramBlock = block?.children.find((c) => c?.type === 'param_block');
    const parameters: string[] = [];
    const parameterAttributes = new Map<string, string[]>();
    for (const p of paramBlock ? descendants(paramBlock, 'script_parameter') : []) {
      const variable = p.children.find((c) => c?.type === 'variable')?.text.replace(/^\$/, '') ?? '';
      parameters.push(variable);
      const attributes = p.children.find((c) => c?.type === 'attribute_list');
      parameterAttributes.set(variable, attributes ? attributes.children.filter((c): c is Node => c?.type === 'attribute').map((c) => c.text) : []);
    }
    const info: FunctionInfo = { name, node, parameters, parameterAttributes, ...(help ? { help } : {}) };
    const topAttributes = paramBlock?.children.find((c) => c?.type === 'attribute_list');
    for (const attribute of topAttributes?.children.filter((c): c is Node => c?.type === 'attribute') ?? []) {
      const attributeName = attribute.children.find((c) => c?.type === 'attribute_name')?.text;
      if (attributeName === 'CmdletBinding') {
        info.cmdletBinding = new Map();
        for (const argument of descendants(attribute, 'attribute_argument')) {
          const key = argument.children.find((c) => c?.type === 'simple_name')?.text;
          const value = argument.children.filter((c) => c?.type !== 'simple_name' && c?.text !== '=').map((c) => c.text).join('');
          if (key) info.cmdletBinding.set(key, value);
        }
      }
      if (attributeName === 'OutputType') info.outputType = attribute.text;
    }
    return info;
  });
}

/** Names of the commands a syntax tree calls (`Invoke-AmsRequest`, `ConvertTo-AmsOutput`, ...). */
export function commandNames(node: Node): string[] {
  return descendants(node, 'command_name').map((n) => n.text);
}

/** Whether `$PSCmdlet.ShouldProcess(...)` is called. */
export function callsShouldProcess(node: Node): boolean {
  return descendants(node, 'member_name').some((n) => n.text === 'ShouldProcess' && n.parent?.children.some((c) => c?.type === 'argument_list'));
}

/** The sections of a comment-based help block: keyword (with its argument) → text. */
export function helpSections(help: string): Array<{ keyword: string; text: string }> {
  const sections: Array<{ keyword: string; text: string }> = [];
  for (const line of help.replace(/^<#|#>$/g, '').split('\n')) {
    const keyword = /^\s*\.([A-Z]+)(?:\s+(\S+))?\s*$/.exec(line);
    if (keyword) sections.push({ keyword: keyword[2] ? `${keyword[1]} ${keyword[2]}` : keyword[1]!, text: '' });
    else if (sections.length > 0) sections[sections.length - 1]!.text += `${line.trim()}\n`;
  }
  return sections.map((s) => ({ keyword: s.keyword, text: s.text.trim() }));
}

type Json = Record<string, unknown>;

/**
 * A small OpenAPI document: `operations` maps `METHOD /path` to operation objects. The generator wants a
 * description on every parameter; fixtures that are not about help get one made up (`describe: false`
 * keeps them as given).
 */
export function syntheticSpec(operations: Record<string, Json>, schemas: Record<string, Json> = {}, info: Json = {}, options: { describe?: boolean } = {}): OpenApiDocument {
  const paths: Record<string, Json> = {};
  for (const [key, operation] of Object.entries(operations)) {
    const [method, path] = key.split(' ') as [string, string];
    paths[path] ??= {};
    paths[path][method.toLowerCase()] = { responses: { '204': { description: 'Done.' } }, ...operation };
  }
  if (options.describe !== false) describeEverything({ paths, schemas });
  return {
    openapi: '3.0.3',
    info: { title: 'Synthetic', version: '1.0.0', ...info },
    security: [{ bearerAuth: [] }],
    paths,
    components: { schemas, securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
  };
}

/** Gives every parameter and property without a description one, in place. */
function describeEverything(node: unknown, name?: string): void {
  if (Array.isArray(node)) return node.forEach((item) => describeEverything(item));
  if (!node || typeof node !== 'object') return;
  const object = node as Json;
  if (typeof object.in === 'string' && typeof object.name === 'string' && object.description === undefined) object.description = `The ${object.name} (synthetic).`;
  if (name !== undefined && object.description === undefined && object.$ref === undefined) object.description = `The ${name} (synthetic).`;
  for (const [key, value] of Object.entries(object)) {
    if (key === 'properties' && value && typeof value === 'object') {
      for (const [property, schema] of Object.entries(value as Json)) describeEverything(schema, property);
    } else describeEverything(value);
  }
}

/** A JSON response of the given schema, for operations in synthetic specs. */
export function jsonResponse(schema: Json, status = '200'): Json {
  return { [status]: { description: 'OK.', content: { 'application/json': { schema } } } };
}

/** A JSON request body of the given schema. */
export function jsonBody(schema: Json): Json {
  return { required: true, content: { 'application/json': { schema } } };
}
