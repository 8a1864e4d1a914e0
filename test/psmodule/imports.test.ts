/**
 * Who may import whom between the contract, the generator and the daemon (issue 13): the contract
 * (openapi/) imports neither; the generator imports the contract, never the daemon; the daemon loads
 * the generator only when `amsd generate-module` asks for it, from cli.ts. And the generator's own
 * modules import each other without a loop.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import t from 'tap';
import ts from 'typescript';
import { packageRoot } from '../../openapi/package-root.js';

interface Import {
  /** The imported file, relative to the package root, with forward slashes (`openapi/contract.ts`). */
  target: string;
  /** `import('…')`, as opposed to an import or export declaration (`import type` included). */
  dynamic: boolean;
}

function sourcesUnder(folder: string): string[] {
  return readdirSync(join(packageRoot, folder), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => `${folder}/${file.split(sep).join('/')}`);
}

/** The relative imports of a source file, resolved to the .ts files they name. */
function importsOf(file: string): Import[] {
  const source = ts.createSourceFile(file, readFileSync(join(packageRoot, file), 'utf8'), ts.ScriptTarget.Latest);
  const found: Import[] = [];
  const add = (specifier: ts.Node | undefined, dynamic: boolean) => {
    if (!specifier || !ts.isStringLiteral(specifier) || !specifier.text.startsWith('.')) return;
    const target = relative(packageRoot, resolve(dirname(join(packageRoot, file)), specifier.text.replace(/\.js$/, '.ts')));
    found.push({ target: target.split(sep).join('/'), dynamic });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier, false);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0], true);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Every file reachable from the given ones through their imports of any kind. */
function reachable(from: string[]): Set<string> {
  const seen = new Set<string>();
  const pending = [...from];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    pending.push(...importsOf(file).map((i) => i.target));
  }
  return seen;
}

const generator = sourcesUnder('psmodule/generator');
const contract = sourcesUnder('openapi');

t.test('the generator reaches the contract, never the daemon', async (t) => {
  t.ok(generator.includes('psmodule/generator/index.ts') && generator.includes('psmodule/generator/cli.ts'));
  const files = [...reachable(generator)];
  t.same(files.filter((f) => f.startsWith('daemon/')), [], 'nothing under daemon/');
  t.ok(files.includes('openapi/contract.ts'), 'the contract loader is shared');
  t.same(files.filter((f) => !f.startsWith('psmodule/generator/') && !f.startsWith('openapi/')), [], 'nothing outside psmodule/generator and openapi');
});

t.test('the contract imports nothing of the daemon or the generator', async (t) => {
  t.same([...reachable(contract)].filter((f) => !f.startsWith('openapi/')), []);
});

t.test('the daemon loads the generator only on demand, from cli.ts', async (t) => {
  const daemon = sourcesUnder('daemon');
  const generatorImports = daemon.flatMap((file) => importsOf(file).filter((i) => i.target.startsWith('psmodule/')).map((i) => ({ file, ...i })));
  t.same(generatorImports.filter((i) => !i.dynamic), [], 'no static import of psmodule/');
  t.same([...new Set(generatorImports.map((i) => i.file))], ['daemon/cli.ts'], 'the one import() is in cli.ts');
});

t.test('the generator and the contract import each other without a loop', async (t) => {
  const files = [...generator, ...contract];
  const edges = new Map(files.map((file) => [file, importsOf(file).map((i) => i.target)]));
  const state = new Map<string, 'visiting' | 'done'>();
  const loops: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'visiting') {
      loops.push([...path.slice(path.indexOf(file)), file].join(' -> '));
      return;
    }
    state.set(file, 'visiting');
    for (const next of edges.get(file) ?? []) visit(next, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of files) visit(file, []);
  t.same(loops, []);
});
