/**
 * What every backend of the Store interface (daemon/store/store.ts) must do, whatever it writes to:
 * run by json-file-store.test.ts on the embedded store and by postgres/postgres-store.test.ts on the
 * PostgreSQL one. What only one backend does (the journal's files, folds; other daemons) is tested in
 * that backend's own file.
 */
import type { Test } from 'tap';
import { StateCheckError } from '../../daemon/store/record-checks.js';
import type { ApiKeyRecord } from '../../daemon/store/records.js';
import type { CommittedChange, Draft, Store } from '../../daemon/store/store.js';

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const key = (name: string, n = 1): ApiKeyRecord => ({
  id: id(n),
  name,
  role: 'admin',
  prefix: 'ams_abcd',
  hash: 'a'.repeat(64),
  createdAt: '2026-01-01T00:00:00.000Z',
  createdBy: 'test',
});
const names = (rows: readonly { name: string }[]) => rows.map((r) => r.name);

/**
 * Registers the contract's tests on `t`. `open` gives a new, empty store for one test (and closes it
 * in that test's teardown); `options` are every test's options (a skip, say).
 */
export function storeContract(t: Test, backend: string, open: (t: Test) => Promise<Store>, options: { skip?: string | false } = {}): void {
  const test = (name: string, body: (t: Test) => Promise<void>) => void t.test(`${backend}: ${name}`, options, body);

  test('subscribers learn which collections, and which keys, a change changed', async (t) => {
    const store = await open(t);
    const seen: { revision: number; collections: Record<string, unknown> }[] = [];
    const unsubscribe = store.subscribe((change: CommittedChange) => {
      seen.push({ revision: change.revision, collections: Object.fromEntries(change.collections) });
      t.equal(store.revision, change.revision, 'the new state is readable when the subscriber is told');
    });
    await store.mutate((d) => {
      d.put('apiKeys', key('a', 1));
      d.put('apiKeys', key('b', 2));
    });
    await store.mutate((d) => d.set('settings', { groupCacheSeconds: 5 }));
    await store.mutate((d) => void d.delete('apiKeys', id(1)));
    await store.mutate((d) => void d.delete('apiKeys', id(99))); // nothing to delete: no change
    t.same(seen, [
      { revision: 1, collections: { apiKeys: { version: 1, keys: [id(1), id(2)] } } },
      { revision: 2, collections: { settings: { version: 2, keys: [] } } },
      { revision: 3, collections: { apiKeys: { version: 3, keys: [id(1)] } } },
    ]);
    t.same([store.version('apiKeys'), store.version('settings'), store.version('rules')], [3, 2, 0], 'each collection has its own version');
    unsubscribe();
    await store.mutate((d) => d.put('apiKeys', key('c', 3)));
    t.equal(seen.length, 3, 'an unsubscribed listener is told nothing');
  });

  test('a draft sees its own operations', async (t) => {
    const store = await open(t);
    await store.mutate((d) => d.put('apiKeys', key('a', 1)));
    await store.mutate((d: Draft) => {
      d.put('apiKeys', key('b', 2));
      t.same(names(d.rows('apiKeys')), ['a', 'b']);
      t.ok(d.delete('apiKeys', id(1)));
      t.notOk(d.get('apiKeys', id(1)));
      t.same(names(d.rows('apiKeys')), ['b']);
      d.set('settings', { deviceCacheSeconds: 1 });
      t.same(d.document('settings'), { deviceCacheSeconds: 1 });
      t.same(names(store.state.apiKeys), ['a'], 'the store itself is unchanged until the change is committed');
    });
    t.same(names(store.state.apiKeys), ['b']);
  });

  test('rows in the order they were added, a replaced row in its place; get, documents, revision', async (t) => {
    const store = await open(t);
    t.same([store.state.apiKeys, store.state.rules, store.state.settings, store.state.auditTrail, store.revision], [[], [], {}, undefined, 0], 'a new store is empty');
    await store.mutate((d) => d.put('apiKeys', key('first', 5)));
    await store.mutate((d) => d.put('apiKeys', key('second', 1)));
    await store.mutate((d) => d.put('apiKeys', { ...d.get('apiKeys', id(5))!, name: 'first, renamed' }));
    t.same(names(store.state.apiKeys), ['first, renamed', 'second']);
    t.equal(store.get('apiKeys', id(1))?.name, 'second');
    t.equal(store.get('apiKeys', id(2)), undefined);
    t.equal(store.revision, 3);
  });

  test('a change that throws, or whose beforeCommit fails, leaves the state and every collection as they were', async (t) => {
    const store = await open(t);
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
    let recorded = 0;
    await t.rejects(store.mutate((d) => d.put('apiKeys', key('unrecorded', 3)), async () => {
      recorded++;
      throw new Error('the record could not be written');
    }), /the record could not be written/);
    t.equal(recorded, 1);
    t.equal(store.state.apiKeys, keysBefore, 'a change whose record failed is not made');
    t.equal(store.revision, 1);

    await store.mutate((d) => d.set('settings', { userRateLimitPerDay: 9 }));
    t.equal(store.state.apiKeys, keysBefore, 'a change to settings leaves the keys collection as it was (not copied)');
    t.equal(store.state.rules, rulesBefore);
    await store.mutate((d) => d.put('apiKeys', key('later', 4)));
    t.not(store.state.apiKeys, keysBefore, 'a change to keys gives a new collection');
    t.same(names(keysBefore), ['kept'], 'while what a reader held stays as it was');
  });

  test('a value the next start could not load is refused (StateCheckError), before beforeCommit runs', async (t) => {
    const store = await open(t);
    await store.mutate((d) => d.put('apiKeys', key('kept')));
    let audited = false;
    const cases: [string, (d: Draft) => void, RegExp][] = [
      ['Infinity', (d) => d.set('settings', { userRateLimitPerDay: Infinity }), /\/settings\/userRateLimitPerDay must be integer/],
      ['NaN', (d) => d.set('settings', { deviceCacheSeconds: NaN }), /\/settings\/deviceCacheSeconds must be integer/],
      ['a field the schema does not know', (d) => d.set('settings', { dryRun: true } as never), /must NOT have additional properties/],
      ['an id that is not a GUID', (d) => d.put('apiKeys', { ...key('x', 2), id: 'not-a-uuid' }), /must match format "uuid"/],
    ];
    for (const [name, change, problem] of cases) {
      const error = await store.mutate(change, async () => void (audited = true)).then(() => undefined, (e: unknown) => e);
      t.type(error, StateCheckError, name);
      t.match((error as Error).message, problem, `${name}: refused, saying why`);
      t.same(names(store.state.apiKeys), ['kept'], `${name}: the state is unchanged`);
    }
    t.equal(audited, false, 'beforeCommit never ran for a change that is not made');
    t.equal(store.revision, 1);
  });

  test('concurrent changes are applied one after another, none lost', async (t) => {
    const store = await open(t);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.mutate((d) => {
          d.put('apiKeys', key(`k${i}`, i));
          d.set('settings', { auditMaxEvents: (d.document('settings').auditMaxEvents ?? 0) + 1 });
        }),
      ),
    );
    t.equal(store.state.apiKeys.length, 20);
    t.equal(store.state.settings.auditMaxEvents, 20, 'each change saw the one before');
    t.equal(store.revision, 20);
  });

  test('a change with no operations writes nothing and tells no one, but its beforeCommit runs', async (t) => {
    const store = await open(t);
    let told = 0;
    store.subscribe(() => told++);
    let recorded = 0;
    t.equal(await store.mutate((d) => d.delete('apiKeys', id(1)), async () => void recorded++), false);
    t.same([store.revision, told, recorded], [0, 0, 1]);
  });
}
