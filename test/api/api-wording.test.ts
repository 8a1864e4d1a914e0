/**
 * The HTTP API speaks in fields and operations, never in PowerShell: a curl user told "Ask again with
 * -DeviceId" or "Get-AmsTenant lists them" has nothing to type. (The module shows these details as they
 * are.) Every operation a message names must exist, at the method and path it gives.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { listOperations, loadSpec } from '../../openapi/contract.js';
import { packageRoot } from '../../openapi/package-root.js';

async function daemonSources(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? daemonSources(join(dir, e.name)) : Promise.resolve(e.name.endsWith('.ts') ? [join(dir, e.name)] : []))));
  return nested.flat();
}

/** String and template literals of a source, without its comments. */
function literals(source: string): string[] {
  const withoutComments = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...withoutComments.matchAll(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/g)].map((m) => m[0]);
}

t.test('no problem detail of the daemon names a cmdlet or a PowerShell parameter', async (t) => {
  const root = join(packageRoot, 'daemon');
  // The demo's banner shows PowerShell lines on purpose; the simulated tenant and script channel run pwsh.
  const files = (await daemonSources(root)).filter((f) => !/demo\.ts$|simulated-tenant|notifications[/\\](deliver|templates)\.ts$/.test(f));
  const offending: string[] = [];
  for (const file of files) {
    for (const literal of literals(await readFile(file, 'utf8'))) {
      if (/\b(Get|Set|New|Remove|Test|Import|Export|Connect)-Ams[A-Z]\w*|(^|[\s(])-[A-Z][a-z]+[A-Za-z]*\b/.test(literal)) offending.push(`${file.slice(root.length + 1)}: ${literal}`);
    }
  }
  t.same(offending, [], 'messages name fields and operations');
});

t.test('every operation a message names is the contract\'s, at its method and path', async (t) => {
  const operations = new Map(listOperations(loadSpec()).map((op) => [op.operationId, `${op.method.toUpperCase()} ${op.path}`]));
  const root = join(packageRoot, 'daemon');
  let named = 0;
  for (const file of await daemonSources(root)) {
    const source = await readFile(file, 'utf8');
    for (const [, operationId, where] of source.matchAll(/\b([a-z]+[A-Z][A-Za-z]+)(?: \(|, )((?:GET|POST|PATCH|DELETE) \/v1\/[^\s,)]*)/g)) {
      named++;
      t.equal(where, operations.get(operationId!), `${file.slice(root.length + 1)}: ${operationId}`);
    }
  }
  t.ok(named >= 10, `messages name operations (${named} found)`);
});
