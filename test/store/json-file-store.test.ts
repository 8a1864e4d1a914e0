/**
 * The embedded store: what is acknowledged is on disk (in the change journal at once, in the
 * snapshot after a fold), what cannot be trusted is refused and left alone, and a change touches
 * only what it changes.
 */
import t from 'tap';
import { appendFile, copyFile, mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { StoreLoadError, openJsonFileStore } from '../../daemon/store/json-file-store.js';
import { journalFileOf } from '../../daemon/store/journal.js';
import { readState } from '../../daemon/store/state-files.js';
import type { Draft } from '../../daemon/store/store.js';
import { tempDir, type TestContext } from '../helpers.js';
import { storeContract } from './store-contract.js';

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const key = (name: string, n = 1) => ({
  id: id(n),
  name,
  role: 'admin' as const,
  prefix: 'ams_abcd',
  hash: 'a'.repeat(64),
  createdAt: '2026-01-01T00:00:00.000Z',
  createdBy: 'test',
});
const names = (rows: readonly { name: string }[]) => rows.map((r) => r.name);

async function newStoreFile(t: TestContext) {
  const dir = await tempDir(t);
  return { dir, file: join(dir, 'amsd.json') };
}

storeContract(t, 'the embedded store', async (t) => {
  const { store } = await openJsonFileStore((await newStoreFile(t)).file);
  t.teardown(() => store.close());
  return store;
});

t.test('a new file starts empty; an acknowledged change is in the journal at once, and in the snapshot after close', async (t) => {
  const { dir, file } = await newStoreFile(t);
  const first = await openJsonFileStore(file);
  t.equal(first.created, true);
  t.same(first.store.state.apiKeys, []);
  await first.store.mutate((d) => d.put('apiKeys', key('one')));
  t.same(JSON.parse(await readFile(file, 'utf8')).apiKeys, [], 'the snapshot is not rewritten for a change');
  t.equal((await readFile(journalFileOf(file), 'utf8')).split('\n').length, 2, 'one journal line for it');
  t.same(names((await readState(file))!.apiKeys), ['one'], 'the loader applies the journal: tools see the current state');
  await first.store.close();
  t.same(names(JSON.parse(await readFile(file, 'utf8')).apiKeys), ['one'], 'close folds the journal into the snapshot');
  t.equal(await readFile(journalFileOf(file), 'utf8'), '', 'and empties the journal');

  const second = await openJsonFileStore(file);
  t.equal(second.created, false);
  t.equal(second.store.state.apiKeys[0]?.name, 'one');
  await second.store.close();
  t.same((await readdir(dir)).sort(), ['amsd.journal.jsonl', 'amsd.json'], 'no temporary files left behind');
});

t.test('after a crash (no close), the journal is replayed at start', async (t) => {
  const { file } = await newStoreFile(t);
  const { store } = await openJsonFileStore(file);
  await store.mutate((d) => d.put('apiKeys', key('one', 1)));
  await store.mutate((d) => d.put('apiKeys', key('two', 2)));
  await store.mutate((d) => void d.delete('apiKeys', id(1)));
  await store.mutate((d) => d.set('settings', { userRateLimitPerDay: 7 }));
  // Not closed: what kill -9 leaves.
  const reopened = await openJsonFileStore(file);
  t.teardown(() => reopened.store.close());
  t.same(names(reopened.store.state.apiKeys), ['two']);
  t.same(reopened.store.state.settings, { userRateLimitPerDay: 7 });
  t.equal(reopened.store.revision, 4, 'every change counted');
});

t.test('a torn last journal line (a crash mid-write) is ignored and cut off; a torn line elsewhere is refused', async (t) => {
  const { file } = await newStoreFile(t);
  const { store } = await openJsonFileStore(file);
  await store.mutate((d) => d.put('apiKeys', key('kept')));
  const journal = journalFileOf(file);
  const acknowledged = await readFile(journal, 'utf8');
  await appendFile(journal, '{"v":1,"seq":2,"ops":[{"op":"put","collection":"apiKeys","key":"');
  t.same(names((await readState(file))!.apiKeys), ['kept'], 'the loader ignores it');

  const reopened = await openJsonFileStore(file);
  t.same(names(reopened.store.state.apiKeys), ['kept'], 'the acknowledged state, without the torn change');
  t.equal(await readFile(journal, 'utf8'), acknowledged, 'the torn bytes are cut off before anything is appended');
  await reopened.store.mutate((d) => d.put('apiKeys', key('next', 2)));
  const again = await openJsonFileStore(file);
  t.same(names(again.store.state.apiKeys), ['kept', 'next'], 'and the journal goes on cleanly');

  // The same bytes followed by a complete line: not a crash, a file that cannot be trusted.
  const broken = acknowledged + '{"v":1,"seq":2,"op\n' + acknowledged.replace('"seq":1', '"seq":3');
  await writeFile(journal, broken);
  const error = await openJsonFileStore(file).then(() => undefined, (e: unknown) => e);
  t.type(error, StoreLoadError);
  t.match((error as Error).message, /change journal .*line 2 is not valid JSON/);
  t.equal(await readFile(journal, 'utf8'), broken, 'left as it was');
});

t.test('a journal that cannot be trusted is refused, naming the problem, and left as it is', async (t) => {
  const { dir } = await newStoreFile(t);
  const put = (seq: number, name: string, n: number, v = 1) => JSON.stringify({ v, seq, ops: [{ op: 'put', collection: 'apiKeys', key: id(n), value: key(name, n) }] }) + '\n';
  const cases: [string, string, string | undefined, RegExp][] = [
    ['a gap after the snapshot', put(5, 'x', 1), '{"schemaVersion":1,"revision":2,"apiKeys":[],"tenants":[],"rules":[],"channels":[],"settings":{}}', /holds changes up to 2, but its change journal .* goes on at change 5: changes are missing/],
    ['out of order', put(1, 'x', 1) + put(3, 'y', 2), undefined, /line 2 holds change 3 after change 1/],
    ['a newer journal version', put(1, 'x', 1, 2), undefined, /line 1 was written by a newer amsd \(journal version 2/],
    ['a row the schema refuses', JSON.stringify({ v: 1, seq: 1, ops: [{ op: 'put', collection: 'apiKeys', key: id(1), value: { ...key('x'), hash: 'nope' } }] }) + '\n', undefined, /line 1 \(change 1\): \/apiKeys\/.*\/hash must match pattern/],
    ['an unknown collection', JSON.stringify({ v: 1, seq: 1, ops: [{ op: 'put', collection: 'secrets', key: 'a', value: {} }] }) + '\n', undefined, /not one of put, delete/],
    ['changes without their snapshot', put(1, 'x', 1), null as unknown as undefined, /it is missing, but its change journal .* holds changes/],
  ];
  for (const [name, journalText, snapshot, problem] of cases) {
    const sub = join(dir, name.replace(/ /g, '-'));
    await mkdir(sub);
    const file = join(sub, 'amsd.json');
    if (snapshot !== null) await writeFile(file, snapshot ?? '{"schemaVersion":1,"apiKeys":[],"tenants":[],"rules":[],"channels":[],"settings":{}}');
    await writeFile(journalFileOf(file), journalText);
    const error = await openJsonFileStore(file).then(() => undefined, (e: unknown) => e);
    t.type(error, StoreLoadError, name);
    t.match((error as Error).message, problem, `${name}: says what is wrong`);
    t.equal(await readFile(journalFileOf(file), 'utf8'), journalText, `${name}: the journal is left as it was`);
  }
});

t.test('the journal is folded into the snapshot in the background; entries a snapshot already holds are skipped', async (t) => {
  const { file } = await newStoreFile(t);
  let folded!: (revision: number) => void;
  const fold = new Promise<number>((resolve) => (folded = resolve));
  const { store } = await openJsonFileStore(file, { foldEveryChanges: 3, onFolded: (revision) => folded(revision) });
  for (let n = 1; n <= 3; n++) await store.mutate((d) => d.put('apiKeys', key(`k${n}`, n)));
  t.equal(await fold, 3, 'a fold after the third change');
  const snapshot = JSON.parse(await readFile(file, 'utf8'));
  t.equal(snapshot.revision, 3, 'the snapshot holds the first three changes');
  t.same(names(snapshot.apiKeys), ['k1', 'k2', 'k3']);
  t.equal(await readFile(journalFileOf(file), 'utf8'), '', 'and the journal no longer does');

  await store.mutate((d) => d.put('apiKeys', { ...d.get('apiKeys', id(1))!, name: 'k1-renamed' }));
  await store.mutate((d) => void d.delete('apiKeys', id(2)));
  const journal = await readFile(journalFileOf(file), 'utf8');
  await store.close();
  // A crash after a fold's snapshot but before its journal was emptied: the same entries are there twice.
  await writeFile(journalFileOf(file), journal);
  const reopened = await openJsonFileStore(file);
  t.teardown(() => reopened.store.close());
  t.same(names(reopened.store.state.apiKeys), ['k1-renamed', 'k3'], 'applied once, in order');
  t.equal(reopened.store.revision, 5);
});

t.test('copy-on-write: a change that throws, or a journal write that fails, leaves the state and every collection as they were', async (t) => {
  const { file } = await newStoreFile(t);
  let failWrites = false;
  const { store } = await openJsonFileStore(file, {
    journalIo: {
      write: async (handle, data, position) => {
        if (failWrites) {
          await handle.write(data, 0, Math.floor(data.length / 2), position); // half a line, then the disk fails
          throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        }
        return (await handle.write(data, 0, data.length, position)).bytesWritten;
      },
    },
  });
  await store.mutate((d) => d.put('apiKeys', key('kept')));
  const keysBefore = store.state.apiKeys;
  const rulesBefore = store.state.rules;
  await t.rejects(
    store.mutate((d) => {
      d.put('apiKeys', key('half-done', 2));
      throw new Error('refused');
    }),
    /refused/,
  );
  t.equal(store.state.apiKeys, keysBefore, 'the half-done change is not visible: the same array as before');

  failWrites = true;
  await t.rejects(store.mutate((d) => d.put('apiKeys', key('unwritten', 3))), /ENOSPC/);
  t.equal(store.state.apiKeys, keysBefore, 'memory never runs ahead of the disk');
  t.same(names((await readState(file))!.apiKeys), ['kept'], 'and the half-written line was cut back');
  failWrites = false;

  await store.mutate((d) => d.set('settings', { userRateLimitPerDay: 9 }));
  t.equal(store.state.apiKeys, keysBefore, 'a change to settings leaves the keys collection as it was (not copied)');
  t.equal(store.state.rules, rulesBefore);
  await store.mutate((d) => d.put('apiKeys', key('later', 4)));
  t.not(store.state.apiKeys, keysBefore, 'a change to keys gives a new collection');
  t.same(names(keysBefore), ['kept'], 'while what a reader held stays as it was');
  await store.close();
  t.same(names((await openJsonFileStore(file)).store.state.apiKeys), ['kept', 'later']);
});

t.test('a corrupt or invalid snapshot stops the load, names the file and the problem, and is not touched', async (t) => {
  const { dir } = await newStoreFile(t);
  const cases: [string, string, RegExp][] = [
    ['truncated JSON', '{"schemaVersion": 1, "apiKeys": [', /is not valid JSON/],
    ['empty file', '', /is not valid JSON/],
    ['wrong shape', JSON.stringify({ schemaVersion: 1, apiKeys: [{ name: 'x' }], tenants: [] }), /does not match schema version 1: \/apiKeys\/0 must have required property/],
    ['unknown top-level field', JSON.stringify({ schemaVersion: 1, apiKeys: [], tenants: [], extra: true }), /must NOT have additional properties/],
    ['newer version', JSON.stringify({ schemaVersion: 99, apiKeys: [], tenants: [] }), /written by a newer amsd \(schema version 99/],
    ['two rows with one key', JSON.stringify({ schemaVersion: 1, apiKeys: [key('a'), key('b')], tenants: [] }), /two rows of apiKeys have the key/],
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

t.test('a file from before the journal and before later collections loads', async (t) => {
  const { file } = await newStoreFile(t);
  await writeFile(file, JSON.stringify({ schemaVersion: 1, apiKeys: [key('old')], tenants: [] }));
  const { store } = await openJsonFileStore(file);
  t.same(names(store.state.apiKeys), ['old']);
  t.same([store.state.tenants, store.state.rules, store.state.settings], [[], [], {}]);
  t.equal(store.revision, 0);
  await store.close();
});

t.test("temporary copies that a kill left behind are removed at open: only the snapshot's and the journal's own pattern", async (t) => {
  const { dir, file } = await newStoreFile(t);
  const first = await openJsonFileStore(file);
  await first.store.mutate((d) => d.put('apiKeys', key('one')));
  await first.store.close();
  // What `kill -9` between a temporary file's write and its rename leaves: a full copy.
  const leftovers = ['.amsd.json.4242.tmp', '.amsd.json.77.tmp', '.amsd.journal.jsonl.4242.tmp'];
  for (const name of leftovers) await writeFile(join(dir, name), await readFile(file));
  const others = ['.queue.json.4242.tmp', '.amsd.json.x.tmp', 'amsd.json.4242.tmp', '.amsd.json.4242.tmp.keep', 'notes.tmp'];
  for (const name of others) await writeFile(join(dir, name), 'not ours');

  const reopened = await openJsonFileStore(file);
  t.teardown(() => reopened.store.close());
  t.same(reopened.removedTempFiles.sort(), [...leftovers].sort(), 'says which it removed');
  t.same((await readdir(dir)).sort(), ['amsd.journal.jsonl', 'amsd.json', ...others].sort(), 'the leftovers are gone, everything else is kept');
  t.equal(reopened.store.state.apiKeys[0]?.name, 'one', 'and the state is the acknowledged one');
});

t.test('a change holding a value the daemon could not load again is refused before anything is written; only the changed rows are checked', async (t) => {
  const { file } = await newStoreFile(t);
  const { store } = await openJsonFileStore(file);
  await store.mutate((d) => d.put('apiKeys', key('kept')));
  const journalBefore = await readFile(journalFileOf(file), 'utf8');
  let audited = false;
  const cases: [string, (d: Draft) => void, RegExp][] = [
    // JSON.stringify writes Infinity and NaN as null, which the next start refuses.
    ['Infinity', (d) => d.set('settings', { userRateLimitPerDay: Infinity }), /\/settings\/userRateLimitPerDay must be integer/],
    ['NaN', (d) => d.set('settings', { deviceCacheSeconds: NaN }), /\/settings\/deviceCacheSeconds must be integer/],
    ['a field the schema does not know', (d) => d.set('settings', { dryRun: true } as never), /must NOT have additional properties/],
    ['a record without a required field', (d) => d.put('apiKeys', { ...key('x', 2), hash: undefined as never }), new RegExp(`/apiKeys/${id(2)} must have required property 'hash'`)],
    ['a bad row among good ones', (d) => {
      d.put('apiKeys', key('good', 3));
      d.put('apiKeys', { ...key('bad', 4), role: 'root' as never });
    }, new RegExp(`/apiKeys/${id(4)}/role must be equal to one of the allowed values`)],
  ];
  for (const [name, change, problem] of cases) {
    const error = await store.mutate(change, async () => void (audited = true)).then(() => undefined, (e: Error) => e);
    t.match(error?.message, problem, `${name}: refused, saying why`);
    t.match(error?.message, /The change was not written/);
    t.equal(await readFile(journalFileOf(file), 'utf8'), journalBefore, `${name}: nothing was written`);
    t.same(names(store.state.apiKeys), ['kept'], `${name}: the state in memory is unchanged`);
  }
  t.equal(audited, false, 'beforeCommit (the audit record) never ran for a change that is not made');
  await store.close();
  t.equal((await openJsonFileStore(file)).created, false, 'the file still loads');
});

t.test('concurrent changes are applied one after another, none lost', async (t) => {
  const { file } = await newStoreFile(t);
  const { store } = await openJsonFileStore(file, { foldEveryChanges: 7 });
  await Promise.all(Array.from({ length: 20 }, (_, i) => store.mutate((d) => d.put('apiKeys', key(`k${i}`, i)))));
  t.equal(store.state.apiKeys.length, 20);
  t.equal((await readState(file))!.apiKeys.length, 20, 'on disk, folds in between');
  await store.close();
  t.equal(JSON.parse(await readFile(file, 'utf8')).apiKeys.length, 20);
});

t.test('a fold that fails (a full disk) loses nothing, is reported, and is tried again only after as many changes again', async (t) => {
  const { file } = await newStoreFile(t);
  const errors: unknown[] = [];
  let reported!: () => void;
  const firstReport = new Promise<void>((resolve) => (reported = resolve));
  const onError = (error: unknown) => {
    errors.push(error);
    reported();
  };
  const { store } = await openJsonFileStore(file, { foldEveryChanges: 2, onError });
  const blocker = join(file, '..', `.amsd.json.${process.pid}.tmp`);
  await mkdir(blocker); // the snapshot's temporary file cannot be created
  for (let n = 1; n <= 2; n++) await store.mutate((d) => d.put('apiKeys', key(`k${n}`, n)));
  await firstReport; // the fold the second change started runs in the background
  t.equal(errors.length, 1, 'reported once, at the second change');
  await store.mutate((d) => d.put('apiKeys', key('k3', 3)));
  t.same(names((await readState(file))!.apiKeys), ['k1', 'k2', 'k3'], 'every change is in the journal');
  await store.close();
  // Had the third change tried again, its failure would be a third report: close waits for a fold in flight.
  t.equal(errors.length, 2, 'the third change does not try again; the fold at close fails too, and is reported; close itself succeeds');
  await rmdir(blocker);
  const reopened = await openJsonFileStore(file);
  t.teardown(() => reopened.store.close());
  t.same(names(reopened.store.state.apiKeys), ['k1', 'k2', 'k3'], 'replayed at the next start');
});

t.test('changes made while a fold writes the snapshot stay in the journal; a subscriber that throws does not undo a change', async (t) => {
  const { file } = await newStoreFile(t);
  const errors: unknown[] = [];
  let folded!: (revision: number) => void;
  const fold = new Promise<number>((resolve) => (folded = resolve));
  const { store } = await openJsonFileStore(file, { foldEveryChanges: 1, onFolded: (revision) => folded(revision), onError: (error) => errors.push(error) });
  store.subscribe(() => {
    throw new Error('a broken subscriber');
  });
  await store.mutate((d) => d.put('apiKeys', key('a', 1)));
  await store.mutate((d) => d.put('apiKeys', key('b', 2))); // while the first fold writes the snapshot
  t.equal(await fold, 1);
  await store.mutate(() => undefined); // after the fold's journal rewrite, which runs in the store's queue
  const lines = (await readFile(journalFileOf(file), 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line).seq as number);
  t.ok(lines.includes(2) && !lines.includes(1), 'the journal keeps the change the snapshot does not hold, and drops the one it does');
  t.match(errors, [{ message: 'a broken subscriber' }, { message: 'a broken subscriber' }], 'reported');
  t.same(names(store.state.apiKeys), ['a', 'b'], 'the changes are made all the same');
  await store.close();
  t.same(names((await openJsonFileStore(file)).store.state.apiKeys), ['a', 'b']);
});

t.test('a fold written in pieces gives the snapshot JSON.stringify gave, and a crash in the middle of it loses nothing', async (t) => {
  const { dir, file } = await newStoreFile(t);
  const { store } = await openJsonFileStore(file, { foldEveryChanges: 50, foldPieceChars: 200 });
  t.teardown(() => store.close());
  for (let n = 1; n < 50; n++) await store.mutate((d) => d.put('apiKeys', key(`k${n}`, n)));
  const temp = join(dir, `.amsd.json.${process.pid}.tmp`);
  const crashed = join(await tempDir(t), 'amsd.json');
  await store.mutate((d) => d.put('apiKeys', key('k50', 50))); // the fold starts
  await store.mutate((d) => d.set('settings', { userRateLimitPerDay: 7 })); // acknowledged while it runs
  // What kill -9 leaves while the fold writes: the old snapshot, the journal, a partial temporary file.
  let caught = false;
  for (let i = 0; i < 10_000 && !caught; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    if ((await readdir(dir)).includes(basename(temp))) {
      await Promise.all([copyFile(file, crashed), copyFile(journalFileOf(file), journalFileOf(crashed)), copyFile(temp, join(crashed, '..', basename(temp)))]);
      caught = true;
    }
  }
  t.ok(caught, 'the fold was caught writing its temporary file');
  const afterCrash = await openJsonFileStore(crashed);
  t.same(afterCrash.removedTempFiles, [basename(temp)], 'the partial snapshot is removed at open');
  t.equal(afterCrash.store.state.apiKeys.length, 50, 'every acknowledged change is there');
  t.same(afterCrash.store.state.settings, { userRateLimitPerDay: 7 });
  await afterCrash.store.close();

  await store.close();
  const expected = (await readState(file))!;
  t.equal(await readFile(file, 'utf8'), JSON.stringify(expected, null, 2) + '\n', 'the snapshot is the text JSON.stringify gives');
});
