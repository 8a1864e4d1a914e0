/**
 * Writing the module and checking it is current: `generateModule`, `checkModule` (what
 * `npm run check:generated` runs), the generator's CLI, a spec from a URL, and `amsd generate-module`.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { specPath } from '../../openapi/contract.js';
import { packageRoot } from '../../openapi/package-root.js';
import { runGeneratorCli } from '../../psmodule/generator/cli.js';
import { checkModule, generateModule, loadSpecFrom } from '../../psmodule/generator/index.js';
import { tempDir } from '../helpers.js';
import { jsonResponse, syntheticSpec } from './powershell.js';

function captureIo() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

async function tree(dir: string, prefix = ''): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) found.push(...(await tree(join(dir, entry.name), `${prefix}${entry.name}/`)));
    else found.push(`${prefix}${entry.name}`);
  }
  return found.sort();
}

t.test('generate twice: byte-identical files', async (t) => {
  const dir = await tempDir(t);
  const first = join(dir, 'one', 'AccessManager');
  const second = join(dir, 'two', 'AccessManager');
  const written = await generateModule({ outDir: first });
  await generateModule({ outDir: second });
  const files = await tree(first);
  t.same(files, [...written.files].sort());
  t.same(await tree(second), files);
  for (const file of files) t.ok((await readFile(join(first, file))).equals(await readFile(join(second, file))), `${file} is identical`);
  t.ok(files.includes('AccessManager.psd1') && files.includes('AccessManager.psm1') && files.includes('AccessManager.format.ps1xml') && files.includes('en-US/about_AccessManager.help.txt'));
});

t.test('check: current, then stale when a file changes, goes missing, or is left over', async (t) => {
  const dir = join(await tempDir(t), 'AccessManager');
  await generateModule({ outDir: dir });
  t.same((await checkModule({ outDir: dir })).stale, [], 'freshly generated: current');

  const script = join(dir, 'Public', 'Get-AmsDevice.ps1');
  const original = await readFile(script);
  await writeFile(script, Buffer.concat([original, Buffer.from('# edited by hand\n')]));
  t.same((await checkModule({ outDir: dir })).stale, ['Public/Get-AmsDevice.ps1 (differs)']);
  await writeFile(script, original.subarray(3), 'utf8');
  t.same((await checkModule({ outDir: dir })).stale, ['Public/Get-AmsDevice.ps1 (differs)'], 'a lost BOM is a difference');
  await rm(script);
  t.same((await checkModule({ outDir: dir })).stale, ['Public/Get-AmsDevice.ps1 (missing)']);
  await writeFile(join(dir, 'Public', 'Get-AmsOld.ps1'), 'function Get-AmsOld {}\n');
  t.same((await checkModule({ outDir: dir })).stale, ['Public/Get-AmsDevice.ps1 (missing)', 'Public/Get-AmsOld.ps1 (not generated any more)']);

  await generateModule({ outDir: dir });
  t.same((await checkModule({ outDir: dir })).stale, [], 'generating again repairs it and removes what is left over');
  t.notOk(existsSync(join(dir, 'Public', 'Get-AmsOld.ps1')));
});

t.test('a changed spec makes the module stale; regenerating drops the cmdlets that went', async (t) => {
  const dir = await tempDir(t);
  const out = join(dir, 'AccessManager');
  const specFile = join(dir, 'spec.yaml');
  const spec = syntheticSpec({
    'GET /v1/things': { operationId: 'listThings', summary: 'Lists things.', 'x-ams-cmdlet': 'Get-AmsThing', responses: jsonResponse({ type: 'object', properties: { id: { type: 'string' } } }) },
    'DELETE /v1/things/{id}': {
      operationId: 'deleteThing',
      summary: 'Deletes a thing.',
      'x-ams-cmdlet': 'Remove-AmsThing',
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
    },
  });
  await writeFile(specFile, stringify(spec));
  await generateModule({ spec: specFile, outDir: out });
  t.ok(existsSync(join(out, 'Public', 'Remove-AmsThing.ps1')));

  delete (spec.paths as Record<string, unknown>)['/v1/things/{id}'];
  (spec.paths['/v1/things']!.get as { summary: string }).summary = 'Lists every thing.';
  await writeFile(specFile, stringify(spec));
  t.same((await checkModule({ spec: specFile, outDir: out })).stale, [
    'AccessManager.psd1 (differs)',
    'AccessManager.psm1 (differs)',
    'Public/Get-AmsThing.ps1 (differs)',
    'Public/Remove-AmsThing.ps1 (not generated any more)',
    'en-US/about_AccessManager.help.txt (differs)',
  ]);
  await generateModule({ spec: specFile, outDir: out });
  t.notOk(existsSync(join(out, 'Public', 'Remove-AmsThing.ps1')));
  t.match(await readFile(join(out, 'AccessManager.psd1'), 'utf8'), /'Get-AmsThing'/);
  t.notMatch(await readFile(join(out, 'AccessManager.psd1'), 'utf8'), /Remove-AmsThing/);
});

t.test('refuses to write into a folder that holds something else', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'precious.txt'), 'keep me');
  await t.rejects(generateModule({ outDir: dir }), /is not empty and holds no generated AccessManager module/);
  t.equal(await readFile(join(dir, 'precious.txt'), 'utf8'), 'keep me');
});

t.test('the generator CLI: writes, checks (exit 1 when stale), explains failures', async (t) => {
  const dir = join(await tempDir(t), 'AccessManager');
  let run = captureIo();
  t.equal(await runGeneratorCli(['--out', dir], run.io), 0);
  t.match(run.out.join('\n'), /Wrote the AccessManager module \(\d+ files\) to /);

  run = captureIo();
  t.equal(await runGeneratorCli(['--out', dir, '--check'], run.io), 0);
  t.match(run.out.join('\n'), /is up to date/);

  await writeFile(join(dir, 'AccessManager.psm1'), '# edited\n');
  run = captureIo();
  t.equal(await runGeneratorCli(['--out', dir, '--check'], run.io), 1, 'stale: exit 1');
  t.match(run.err.join('\n'), /is stale \(run npm run generate\):\n\s+AccessManager\.psm1 \(differs\)/);

  const bad = join(await tempDir(t), 'bad.yaml');
  await writeFile(bad, stringify(syntheticSpec({ 'GET /v1/x': { operationId: 'x', summary: 'X.', 'x-ams-cmdlet': 'Fetch-AmsX' } })));
  run = captureIo();
  t.equal(await runGeneratorCli(['--spec', bad, '--out', join(await tempDir(t), 'm')], run.io), 1);
  t.match(run.err.join('\n'), /"Fetch" is not an approved verb/);

  run = captureIo();
  t.equal(await runGeneratorCli(['--spec', join(await tempDir(t), 'none.yaml'), '--out', dir], run.io), 1);
  t.match(run.err.join('\n'), /no spec at /);

  run = captureIo();
  t.equal(await runGeneratorCli(['--bogus'], run.io), 2);
  t.match(run.err.join('\n'), /usage: generate-module/);
});

t.test('a spec from a running server: a URL, or a bare address that gets /openapi.json', async (t) => {
  const spec = await loadSpecFrom(specPath);
  const requested: string[] = [];
  const server = createServer((request, response) => {
    requested.push(request.url ?? '');
    if (request.url === '/openapi.json') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(spec));
    } else {
      response.writeHead(404).end();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const fromUrl = join(await tempDir(t), 'AccessManager');
  await generateModule({ spec: `${base}/openapi.json`, outDir: fromUrl });
  const fromBase = join(await tempDir(t), 'AccessManager');
  await generateModule({ spec: base, outDir: fromBase });
  t.same(requested, ['/openapi.json', '/openapi.json']);
  const fromFile = join(await tempDir(t), 'AccessManager');
  await generateModule({ outDir: fromFile });
  for (const file of await tree(fromFile)) {
    t.ok((await readFile(join(fromUrl, file))).equals(await readFile(join(fromFile, file))), `${file}: the same from the URL as from the file`);
  }
  await t.rejects(loadSpecFrom(`${base}/nope.json`), /cannot fetch the spec from .*nope\.json: HTTP 404/);
});

const cli = join(packageRoot, 'dist', 'daemon', 'cli.js');

t.test('amsd generate-module (the compiled CLI)', { skip: existsSync(cli) ? false : 'needs npm run build first (npm test does it)' }, async (t) => {
  const dir = await tempDir(t);
  const out = join(dir, 'AccessManager');
  const run = spawnSync(process.execPath, [cli, 'generate-module', '--out', out], { encoding: 'utf8' });
  t.equal(run.status, 0, run.stderr);
  t.match(run.stdout, /Wrote the AccessManager module \(\d+ files\) to .*AccessManager\nImport it with: Import-Module /);
  t.same((await checkModule({ outDir: out })).stale, [], 'the same module as the library writes');

  const help = spawnSync(process.execPath, [cli, 'generate-module', '--help'], { encoding: 'utf8' });
  t.match(help.stdout, /--out <dir>/);
  t.match(help.stdout, /--spec <file\|url>/);

  await mkdir(join(dir, 'taken'));
  await writeFile(join(dir, 'taken', 'x.txt'), 'x');
  const refused = spawnSync(process.execPath, [cli, 'generate-module', '--out', join(dir, 'taken')], { encoding: 'utf8' });
  t.equal(refused.status, 1);
  t.match(refused.stderr, /amsd: .*is not empty and holds no generated AccessManager module/);
});
