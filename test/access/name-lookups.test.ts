import t from 'tap';
import { NameLookups } from '../../daemon/access/name-lookups.js';

/** A lookup that stays in flight until released, counting how many are in flight at once. */
function gate() {
  let inFlight = 0;
  let most = 0;
  let started = 0;
  const releases: (() => void)[] = [];
  const lookup = (answer: string) => async () => {
    started++;
    most = Math.max(most, ++inFlight);
    await new Promise<void>((resolve) => releases.push(resolve));
    inFlight--;
    return answer;
  };
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
  return { lookup, releases, settle, stats: () => ({ started, most }) };
}

t.test('distinct lookups run at most `concurrency` at a time; a repeated key is asked once', async (t) => {
  const lookups = new NameLookups(3);
  const g = gate();
  const answers = Array.from({ length: 10 }, (_, i) => lookups.once(`k${i % 5}`, g.lookup(`v${i % 5}`)));
  await g.settle();
  t.same(g.stats(), { started: 3, most: 3 }, 'three in flight, the others waiting');
  while (g.releases.length > 0) {
    g.releases.shift()!();
    await g.settle();
  }
  t.same(await Promise.all(answers), ['v0', 'v1', 'v2', 'v3', 'v4', 'v0', 'v1', 'v2', 'v3', 'v4']);
  t.same(g.stats(), { started: 5, most: 3 }, 'five distinct keys, five lookups');
});

t.test('a refusal is shared by everyone who asked; stop() starts nothing more', async (t) => {
  const lookups = new NameLookups(1);
  const refused = new Error('no such group');
  let asked = 0;
  const failing = async () => {
    asked++;
    throw refused;
  };
  const both = await Promise.allSettled([lookups.once('bad', failing), lookups.once('bad', failing)]);
  t.same(both.map((r) => r.status === 'rejected' && r.reason), [refused, refused]);
  t.equal(asked, 1);

  const g = gate();
  const first = lookups.once('a', g.lookup('a'));
  const queued = lookups.once('b', g.lookup('b'));
  await g.settle();
  const failure = new Error('Graph is unavailable');
  lookups.stop(failure);
  await t.rejects(queued, failure, 'a waiting lookup fails with the reason');
  g.releases.shift()!();
  t.equal(await first, 'a', 'one in flight finishes');
  t.equal(g.stats().started, 1, 'the waiting one never ran');
});
