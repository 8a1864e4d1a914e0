/**
 * `lastUsedAt` stays off the durable hot path: uses are noted in memory and written for all keys in
 * one small change, at the flush (at most once a minute) and at close; never a change per request.
 */
import t from 'tap';
import { join } from 'node:path';
import { ApiKeyService } from '../../daemon/auth/api-keys.js';
import { openJsonFileStore } from '../../daemon/store/json-file-store.js';
import { readState } from '../../daemon/store/state-files.js';
import type { CommittedChange } from '../../daemon/store/store.js';
import { tempDir, type TestContext } from '../helpers.js';

const author = { name: 'test', record: async () => undefined };

async function setUp(t: TestContext) {
  const file = join(await tempDir(t), 'amsd.json');
  const { store } = await openJsonFileStore(file);
  // A flush interval no test reaches: flushes happen when the test calls them.
  const keys = new ApiKeyService(store, async () => 'unused', (error) => t.fail(String(error)), { lastUsedFlushMs: 3_600_000 });
  t.teardown(async () => {
    // The last test closes the store first on purpose.
    await keys.close().catch((error: Error) => void (/closed/.test(error.message) || t.fail(error.message)));
    await store.close();
  });
  const changes: CommittedChange[] = [];
  const { key: first } = await keys.create({ name: 'first', role: 'user' }, author);
  const { key: second } = await keys.create({ name: 'second', role: 'user' }, author);
  store.subscribe((change) => changes.push(change));
  return { file, store, keys, changes, first, second };
}

t.test('16 concurrent requests after a quiet minute make no change on the way, and one change at the flush', async (t) => {
  const { file, keys, changes, first, second } = await setUp(t);
  const results = await Promise.all(Array.from({ length: 16 }, (_, i) => Promise.resolve(keys.authenticate(i % 2 ? first : second))));
  t.ok(results.every((r) => 'caller' in r), 'every request is authenticated');
  t.same(changes, [], 'no change is written while requests are answered');
  const listed = keys.list();
  t.ok(listed.every((k) => k.lastUsedAt), 'the list shows when each key was used, before it is written');

  await keys.flushLastUsed();
  t.equal(changes.length, 1, 'one change for all keys');
  t.same([...changes[0]!.collections.keys()], ['apiKeys']);
  t.equal(changes[0]!.collections.get('apiKeys')!.keys.length, 2, 'holding both keys');
  const stored = (await readState(file))!.apiKeys;
  t.same(stored.map((k) => k.lastUsedAt), listed.map((k) => k.lastUsedAt).reverse(), 'the times shown are the times written');

  for (let i = 0; i < 16; i++) keys.authenticate(first);
  await keys.flushLastUsed();
  t.equal(changes.length, 1, 'uses within the minute after are not written again');
});

t.test('uses noted are written at close', async (t) => {
  const { file, store, keys, changes, first } = await setUp(t);
  keys.authenticate(first);
  await keys.close();
  t.equal(changes.length, 1);
  await store.close();
  t.ok((await readState(file))!.apiKeys.find((k) => k.name === 'first')?.lastUsedAt, 'on disk after close');
});

t.test('a flush that cannot be written keeps the uses for the next one', async (t) => {
  const { store, keys, changes, first } = await setUp(t);
  keys.authenticate(first);
  const closed = store.close();
  await t.rejects(keys.flushLastUsed(), /closed/);
  await closed;
  t.ok(keys.list().find((k) => k.name === 'first')?.lastUsedAt, 'still shown');
  t.same(changes, []);
});
