/**
 * Loading the contract: the JSON the build writes is the YAML's document, it is used only while it is
 * at least as new as the YAML, and a process reads it once.
 */
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { builtSpecPath, loadSpec, readSpec, specAsJson, specPath } from '../../openapi/contract.js';
import { packageRoot } from '../../openapi/package-root.js';
import { tempDir } from '../helpers.js';

const fromYaml = parseYaml(readFileSync(specPath, 'utf8')) as unknown;

t.test('the built JSON is the YAML contract, key order and all', async (t) => {
  t.equal(builtSpecPath, join(packageRoot, 'openapi', 'ams.json'), 'run from the sources, the JSON would sit beside the loader (there is none)');
  const built = readFileSync(join(packageRoot, 'dist', 'openapi', 'ams.json'), 'utf8');
  t.equal(built, specAsJson(), 'npm run build wrote dist/openapi/ams.json from the current ams.yaml');
  t.equal(JSON.stringify(JSON.parse(built)), JSON.stringify(fromYaml), 'the same keys in the same order');
  t.strictSame(JSON.parse(built), fromYaml);
});

t.test('the JSON is read while it is at least as new as the YAML, the YAML otherwise', async (t) => {
  const dir = await tempDir(t);
  const yaml = join(dir, 'ams.yaml');
  const json = join(dir, 'ams.json');
  writeFileSync(yaml, 'openapi: 3.0.3\ninfo: { title: from-yaml, version: "1" }\npaths: {}\n');
  t.equal(readSpec({ yaml, json }).info.title, 'from-yaml', 'no JSON: the YAML');
  writeFileSync(json, JSON.stringify({ openapi: '3.0.3', info: { title: 'from-json', version: '1' }, paths: {} }));
  const later = new Date(Date.now() + 10_000);
  utimesSync(json, later, later);
  t.equal(readSpec({ yaml, json }).info.title, 'from-json', 'a JSON built after the YAML: the JSON');
  const evenLater = new Date(Date.now() + 20_000);
  utimesSync(yaml, evenLater, evenLater);
  t.equal(readSpec({ yaml, json }).info.title, 'from-yaml', 'the YAML edited since the build: the YAML, not a stale copy');
});

t.test('a process reads the contract once, and nothing can change the shared copy', async (t) => {
  const spec = loadSpec();
  t.equal(loadSpec(), spec, 'the same document every time');
  t.strictSame(spec, fromYaml);
  t.throws(() => {
    (spec.info as { title: string }).title = 'changed';
  }, TypeError);
  t.throws(() => {
    (spec.paths as Record<string, unknown>)['/v1/new'] = {};
  }, TypeError);
});
