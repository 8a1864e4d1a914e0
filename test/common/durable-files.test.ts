/**
 * The one copy of the durability helpers: an atomic write leaves the old or the new content and no
 * temporary file; a versioned JSON file is refused, unchanged, when it cannot be trusted.
 */
import t from 'tap';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UntrustedFileError, atomicWrite, loadVersionedJson, removeLeftoverTempFiles, tempFileOf } from '../../daemon/common/durable-files.js';
import { tempDir } from '../helpers.js';

const options = {
  versionField: 'version',
  version: 2,
  versionName: 'test version',
  check: (raw: unknown): raw is { version: number; items: unknown[] } => Array.isArray((raw as { items?: unknown }).items),
  problems: () => '/items must be array',
};

t.test('an atomic write replaces the file whole and leaves no temporary file; a failed one leaves the old content', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'data.json');
  await atomicWrite(file, 'one');
  await atomicWrite(file, 'two');
  t.equal(await readFile(file, 'utf8'), 'two');
  t.same(await readdir(dir), ['data.json']);

  await mkdir(tempFileOf(file)); // the temporary file cannot be created
  await t.rejects(atomicWrite(file, 'three'));
  t.equal(await readFile(file, 'utf8'), 'two', 'the old content stays');
});

t.test('leftover temporary files of this file only are removed', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'data.json');
  for (const name of ['.data.json.12.tmp', '.data.json.x.tmp', '.other.json.12.tmp']) await writeFile(join(dir, name), '');
  t.same(await removeLeftoverTempFiles(file), ['.data.json.12.tmp']);
  t.same((await readdir(dir)).sort(), ['.data.json.x.tmp', '.other.json.12.tmp']);
});

t.test('a versioned JSON file: missing is undefined; unreadable, newer or invalid is refused and left as it is', async (t) => {
  const dir = await tempDir(t);
  t.equal(await loadVersionedJson(join(dir, 'none.json'), options), undefined);
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{"version": 1,', /it is not valid JSON/],
    ['newer', '{"version": 3, "items": []}', /written by a newer amsd \(test version 3; this amsd understands up to 2\)/],
    ['invalid', '{"version": 2}', /its content does not match test version 2: \/items must be array/],
  ];
  for (const [name, content, problem] of cases) {
    const file = join(dir, `${name}.json`);
    await writeFile(file, content);
    const error = await loadVersionedJson(file, options).then(() => undefined, (e: unknown) => e);
    t.type(error, UntrustedFileError, name);
    t.match((error as UntrustedFileError).problem, problem, name);
    t.equal(await readFile(file, 'utf8'), content, `${name}: unchanged`);
  }
  await writeFile(join(dir, 'good.json'), '{"version": 1, "items": [1]}');
  t.same(await loadVersionedJson(join(dir, 'good.json'), options), { version: 1, items: [1] }, 'an older version that matches loads');
});
