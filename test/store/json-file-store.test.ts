/**
 * The state file: what is acknowledged is on disk, what cannot be trusted is refused and left alone.
 */
import t from 'tap';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreLoadError, openJsonFileStore } from '../../daemon/store/json-file-store.js';
import { tempDir } from '../helpers.js';

const key = (name: string) => ({
  id: '00000000-0000-4000-8000-000000000001',
  name,
  role: 'admin' as const,
  prefix: 'ams_abcd',
  hash: 'a'.repeat(64),
  createdAt: '2026-01-01T00:00:00.000Z',
  createdBy: 'test',
});

t.test('a new file starts empty, and acknowledged writes survive a reopen', async (t) => {
  const file = join(await tempDir(t), 'amsd.json');
  const first = await openJsonFileStore(file);
  t.equal(first.created, true);
  t.same(first.store.state.apiKeys, []);
  await first.store.mutate((s) => void s.apiKeys.push(key('one')));
  t.same(JSON.parse(await readFile(file, 'utf8')).apiKeys[0].name, 'one', 'on disk as soon as mutate resolves');
  await first.store.close();

  const second = await openJsonFileStore(file);
  t.equal(second.created, false);
  t.equal(second.store.state.apiKeys[0]?.name, 'one');
  t.same((await readdir(join(file, '..'))).sort(), ['amsd.json'], 'no temporary files left behind');
});

t.test('concurrent changes are applied one after another, none lost', async (t) => {
  const file = join(await tempDir(t), 'amsd.json');
  const { store } = await openJsonFileStore(file);
  await Promise.all(
    Array.from({ length: 20 }, (_, i) => store.mutate((s) => void s.apiKeys.push({ ...key(`k${i}`), id: `00000000-0000-4000-8000-0000000000${String(i).padStart(2, '0')}` }))),
  );
  t.equal(store.state.apiKeys.length, 20);
  await store.close();
  t.equal(JSON.parse(await readFile(file, 'utf8')).apiKeys.length, 20);
});

t.test('a change that throws, or a write that fails, leaves the state as it was', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'amsd.json');
  const { store } = await openJsonFileStore(file);
  await t.rejects(store.mutate((s) => {
    s.apiKeys.push(key('half-done'));
    throw new Error('refused');
  }), /refused/);
  t.same(store.state.apiKeys, [], 'the half-done change is not visible');

  // Make the temporary file impossible to create: the write fails after the change was applied.
  await mkdir(join(dir, `.amsd.json.${process.pid}.tmp`));
  await t.rejects(store.mutate((s) => void s.apiKeys.push(key('unwritten'))));
  t.same(store.state.apiKeys, [], 'memory never runs ahead of the disk');
  t.same(JSON.parse(await readFile(file, 'utf8')).apiKeys, []);
});

t.test('a corrupt or invalid file stops the load, names the file and the problem, and is not touched', async (t) => {
  const dir = await tempDir(t);
  const cases: [string, string, RegExp][] = [
    ['truncated JSON', '{"schemaVersion": 1, "apiKeys": [', /is not valid JSON/],
    ['empty file', '', /is not valid JSON/],
    ['wrong shape', JSON.stringify({ schemaVersion: 1, apiKeys: [{ name: 'x' }], tenants: [] }), /does not match schema version 1: \/apiKeys\/0 must have required property/],
    ['unknown top-level field', JSON.stringify({ schemaVersion: 1, apiKeys: [], tenants: [], extra: true }), /must NOT have additional properties/],
    ['newer version', JSON.stringify({ schemaVersion: 99, apiKeys: [], tenants: [] }), /written by a newer amsd \(schema version 99/],
  ];
  for (const [name, content, problem] of cases) {
    const file = join(dir, `${name.replace(/ /g, '-')}.json`);
    await writeFile(file, content);
    const error = await openJsonFileStore(file).then(() => undefined, (e: unknown) => e);
    t.type(error, StoreLoadError, name);
    t.match((error as Error).message, file, `${name}: names the file`);
    t.match((error as Error).message, problem, `${name}: says what is wrong`);
    t.equal(await readFile(file, 'utf8'), content, `${name}: the file is left as it was`);
  }
});

t.test('temporary copies that a kill left behind are removed at open: only this file\'s own pattern', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'amsd.json');
  const first = await openJsonFileStore(file);
  await first.store.mutate((s) => void s.apiKeys.push(key('one')));
  await first.store.close();
  // What `kill -9` between the temporary file's write and its rename leaves: a full copy of the state.
  const leftovers = ['.amsd.json.4242.tmp', '.amsd.json.77.tmp'];
  for (const name of leftovers) await writeFile(join(dir, name), await readFile(file));
  const others = ['.queue.json.4242.tmp', '.amsd.json.x.tmp', 'amsd.json.4242.tmp', '.amsd.json.4242.tmp.keep', 'notes.tmp'];
  for (const name of others) await writeFile(join(dir, name), 'not ours');

  const reopened = await openJsonFileStore(file);
  t.teardown(() => reopened.store.close());
  t.same(reopened.removedTempFiles.sort(), [...leftovers].sort(), 'says which it removed');
  t.same((await readdir(dir)).sort(), ['amsd.json', ...others].sort(), 'the leftovers are gone, everything else is kept');
  t.equal(reopened.store.state.apiKeys[0]?.name, 'one', 'and the state is the acknowledged one');
});

t.test('a change whose result the daemon could not load again is refused before anything is written', async (t) => {
  const file = join(await tempDir(t), 'amsd.json');
  const { store } = await openJsonFileStore(file);
  await store.mutate((s) => void s.apiKeys.push(key('kept')));
  const before = await readFile(file, 'utf8');
  let audited = false;
  const cases: [string, (s: import('../../daemon/store/state.js').State) => void, RegExp][] = [
    // JSON.stringify writes Infinity and NaN as null, which the next start refuses.
    ['Infinity', (s) => void (s.settings.userRateLimitPerDay = Infinity), /\/settings\/userRateLimitPerDay must be integer/],
    ['NaN', (s) => void (s.settings.deviceCacheSeconds = NaN), /\/settings\/deviceCacheSeconds must be integer/],
    ['a field the schema does not know', (s) => void Object.assign(s.settings, { dryRun: true }), /must NOT have additional properties/],
    ['a record without a required field', (s) => void s.apiKeys.push({ ...key('x'), hash: undefined as never }), /\/apiKeys\/1 must have required property 'hash'/],
  ];
  for (const [name, change, problem] of cases) {
    const error = await store.mutate(change, async () => void (audited = true)).then(() => undefined, (e: Error) => e);
    t.match(error?.message, problem, `${name}: refused, saying why`);
    t.match(error?.message, /The change was not written/);
    t.equal(await readFile(file, 'utf8'), before, `${name}: the file is unchanged`);
    t.same(store.state.apiKeys.map((k) => k.name), ['kept'], `${name}: the state in memory is unchanged`);
  }
  t.equal(audited, false, 'beforeCommit (the audit record) never ran for a change that is not made');
  await store.close();
  t.equal((await openJsonFileStore(file)).created, false, 'the file still loads');
});
