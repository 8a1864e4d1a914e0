import t from 'tap';
import { TtlCache } from '../../daemon/directory/ttl-cache.js';

t.test('entries expire, and expired entries are dropped rather than kept', async (t) => {
  const cache = new TtlCache<string>(1000);
  cache.set('a', 'first', 0);
  t.equal(cache.get('a', 999), 'first');
  t.equal(cache.get('a', 1000), undefined, 'gone at its lifetime');
  t.equal(cache.size, 0, 'and removed on the read that found it expired');

  for (let i = 0; i < 100; i++) cache.set(`name-${i}`, 'x', 2000);
  cache.set('late', 'y', 3500);
  t.equal(cache.size, 1, 'a write after a lifetime sweeps every expired entry');
  t.equal(cache.get('late', 3600), 'y');
});
