/**
 * The rule index's copy-on-write map: a copy and its original never see each other's later writes,
 * whichever of them writes first, and each behaves as a plain Map of its own entries.
 */
import t from 'tap';
import { CopyOnWriteMap } from '../../daemon/access/copy-on-write-map.js';

const sorted = (map: CopyOnWriteMap<number>) => [...map.entries()].sort(([a], [b]) => (a < b ? -1 : 1));

t.test('it behaves as a Map: set, replace, delete, size, iteration', async (t) => {
  const map = new CopyOnWriteMap<number>([['a', 1], ['b', 2]]);
  t.equal(map.size, 2);
  map.set('a', 10).set('c', 3);
  t.equal(map.size, 3, 'replacing a key does not count it twice');
  t.equal(map.get('a'), 10);
  t.ok(map.delete('b'));
  t.notOk(map.delete('b'), 'a missing key is not deleted');
  t.notOk(map.has('b'));
  t.equal(map.size, 2);
  t.same(sorted(map), [['a', 10], ['c', 3]]);
  t.same([...map.values()].sort(), [10, 3].sort());
});

t.test('a copy and its original are independent, whichever writes first, through copies of copies', async (t) => {
  const keys = Array.from({ length: 2000 }, (_, i) => `key-${i}`); // every shard holds some
  const original = new CopyOnWriteMap<number>(keys.map((k, i) => [k, i]));
  const copy = original.copy();
  copy.set('key-1', -1);
  copy.delete('key-2');
  copy.set('new', 5);
  t.equal(original.get('key-1'), 1, 'a write to the copy leaves the original');
  t.ok(original.has('key-2'));
  t.notOk(original.has('new'));
  t.equal(original.size, 2000);
  t.equal(copy.size, 2000);

  original.set('key-3', -3); // the original writes after the copy was made: the copy keeps its value
  t.equal(copy.get('key-3'), 3);
  const third = copy.copy();
  third.delete('key-1');
  t.equal(copy.get('key-1'), -1, 'a copy of a copy is independent of it too');
  t.equal(original.get('key-1'), 1);
  t.equal(third.size, 1999, 'the third holds what the copy held, less key-1');
  t.equal([...third.entries()].length, 1999);
  const changed = [...original.entries()].filter(([key, value]) => value !== Number(key.slice(4)));
  t.same(changed, [['key-3', -3]], 'the original holds its own entries and its own write only');
});
