/**
 * A restart of the database under two real `amsd serve --database` processes (issue 15): neither is
 * restarted, both take writes again once the database is back, and each sees what the other wrote
 * after it (its listening connection came back and read the state afresh). A file of its own: the
 * restart cuts every connection of the file's cluster.
 */
import t from 'tap';
import { needsPostgres, postgresClusterFor } from '../store/postgres/cluster.js';
import { call, pollUntil, startFleet, type ServeProcess } from './serve-processes.js';

const postgres = postgresClusterFor(t);
/** How long a daemon may take to get its connections back: generous, the reconnect backs off up to 5 s. */
const RECOVERY_MS = 20_000;

t.test('a database restart is survived by both daemons: writes through each work again, and each sees the other\'s', needsPostgres(t), async (t) => {
  const fleet = await startFleet(t, await postgres.database(), 2);
  const [a, b] = fleet.daemons as [ServeProcess, ServeProcess];
  const makeKey = (daemon: ServeProcess, name: string) => call(daemon.url, fleet.adminKey, 'POST', '/v1/api-keys', { name, role: 'user' });
  for (const [name, daemon] of [['A', a], ['B', b]] as const) t.equal((await makeKey(daemon, `before ${name}`)).status, 201, `a write through ${name} before the restart`);

  await (await postgres.cluster()).restart();

  // The first attempts may meet connections the restart cut: each daemon is asked until a write succeeds.
  const made = new Map<string, string>();
  for (const [name, daemon] of [['A', a], ['B', b]] as const) {
    const created = await pollUntil(`a write through ${name} after the restart`, RECOVERY_MS, async () => {
      const answer = await makeKey(daemon, `after ${name}`);
      return answer.status === 201 ? answer : undefined;
    }, 50);
    t.equal(created.status, 201, `${name} takes writes again without a restart of its own`);
    made.set(name, created.body.key as string);
    t.equal((await call(daemon.url, fleet.adminKey, 'GET', '/v1/health')).body.database, 'ok', `${name}'s health says the database answers`);
  }
  for (const [reader, daemon, writer] of [['B', b, 'A'], ['A', a, 'B']] as const) {
    const key = made.get(writer)!;
    const accepted = await pollUntil(`${reader} accepts the key made through ${writer}`, RECOVERY_MS, async () => ((await call(daemon.url, key, 'GET', '/v1/me')).status === 200 ? true : undefined), 50);
    t.ok(accepted, `${reader} accepts the key made through ${writer} after the restart`);
  }
  // And a change made now reaches the other by its notification: the listening connections are back.
  const last = await makeKey(a, 'last');
  t.equal(last.status, 201);
  t.ok(await pollUntil('B accepts the last key', RECOVERY_MS, async () => ((await call(b.url, last.body.key as string, 'GET', '/v1/me')).status === 200 ? true : undefined)), 'B accepts a key made through A');
});
