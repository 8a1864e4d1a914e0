/**
 * The PostgreSQL store against a real server, two daemons' stores on one database: a change made
 * through one is in the other's state within a second (the notification), or by the poll when the
 * notification is lost, or by a reload after the listening connection comes back; concurrent changes
 * through both all land; the master key must be the one the database was first used with; a value
 * the store could not load again is refused with nothing written.
 */
import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { StateCheckError } from '../../../daemon/store/record-checks.js';
import { MasterKeyMismatchError } from '../../../daemon/store/postgres/master-key-check.js';
import { openPostgresStore, type OpenPostgresStoreOptions, type PostgresStore } from '../../../daemon/store/postgres/postgres-store.js';
import { DatabaseStateError } from '../../../daemon/store/postgres/state-tables.js';
import { MIGRATIONS } from '../../../daemon/store/postgres/migrations.js';
import type { CommittedChange, Store } from '../../../daemon/store/store.js';
import { needsPostgres, postgresClusterFor } from './cluster.js';
import { apiKey, descriptions, id, rule } from './records.js';
import { nextChange } from './wait.js';
import { storeContract } from '../store-contract.js';

const postgres = postgresClusterFor(t);
const masterKey = randomBytes(32);

async function openStore(t: Test, url: string, options: Partial<OpenPostgresStoreOptions> = {}): Promise<PostgresStore> {
  const errors: unknown[] = [];
  const { store } = await openPostgresStore({ url, masterKey, onError: (e) => errors.push(e), ...options });
  t.teardown(() => store.close());
  return store;
}

storeContract(t, 'the PostgreSQL store', async (t) => openStore(t, await postgres.database()), needsPostgres(t));

const touches = (collection: string, key: string) => (change: CommittedChange) => change.collections.get(collection as never)?.keys.includes(key) ?? false;

t.test('a rule put through A is in B within a second, announced to B\'s subscribers as a local change is', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const a = await openStore(t, url);
  // No poll to help: the notification alone.
  const b = await openStore(t, url, { pollMs: 60_000 });
  const seen = nextChange(b, touches('rules', id(1)));
  await a.mutate((d) => d.put('rules', rule('helpdesk', 1)));
  const change = await seen;
  t.same(descriptions(b.state.rules), ['helpdesk'], 'in B\'s state when its subscribers are told');
  t.same(Object.fromEntries(change.collections), { rules: { version: 1, keys: [id(1)] } }, 'the collection, its version and the key');
  t.equal(change.revision, 1);
  t.equal(b.revision, 1);
  t.equal(b.version('rules'), 1);
  t.equal(b.get('rules', id(1))?.description, 'helpdesk');

  const changed = nextChange(b, touches('rules', id(1)));
  await a.mutate((d) => d.put('rules', { ...d.get('rules', id(1))!, description: 'helpdesk, renamed' }));
  await changed;
  t.same(descriptions(b.state.rules), ['helpdesk, renamed']);

  const deleted = nextChange(b, touches('rules', id(1)));
  await a.mutate((d) => void d.delete('rules', id(1)));
  const deletion = await deleted;
  t.same(b.state.rules, [], 'a deleted row disappears from B');
  t.equal(b.get('rules', id(1)), undefined);
  t.same(deletion.collections.get('rules')?.keys, [id(1)], 'and B\'s subscribers learn which key went');

  const settings = nextChange(b, (c) => c.collections.has('settings'));
  await a.mutate((d) => d.set('settings', { userRateLimitPerDay: 7 }));
  await settings;
  t.same(b.state.settings, { userRateLimitPerDay: 7 }, 'documents too');
});

t.test('concurrent changes through A and B all land: a change is run again on the state the other daemon left', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const a = await openStore(t, url, { pollMs: 60_000 });
  const b = await openStore(t, url, { pollMs: 60_000 });
  // A read-modify-write through both at once: a lost update would leave the count short.
  const increment = (store: Store) => store.mutate((d) => d.set('settings', { auditMaxEvents: (d.document('settings').auditMaxEvents ?? 0) + 1 }));
  const keys = (store: Store, from: number) => Array.from({ length: 10 }, (_, i) => store.mutate((d) => d.put('apiKeys', apiKey(`k${from + i}`, from + i))));
  await Promise.all([...Array.from({ length: 10 }, () => increment(a)), ...Array.from({ length: 10 }, () => increment(b)), ...keys(a, 100), ...keys(b, 200)]);
  await Promise.all([a.idle(), b.idle()]);
  const check = await openStore(t, url);
  t.equal(check.state.settings.auditMaxEvents, 20, 'every increment counted once');
  t.equal(check.state.apiKeys.length, 20, 'every row put through either daemon');
  t.equal(check.revision, 40, 'one revision per change');
  // Each daemon's own view catches up to the same state.
  for (const [name, store] of [['A', a], ['B', b]] as const) {
    if (store.revision < 40) await nextChange(store, (c) => c.revision === 40, 2000);
    t.equal(store.state.settings.auditMaxEvents, 20, `${name} sees every increment`);
    t.equal(store.state.apiKeys.length, 20, `${name} sees every row`);
  }
});

t.test('a notification lost (the listening connection killed, reconnecting late): the poll of the revision brings the change', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const cluster = await postgres.cluster();
  const a = await openStore(t, url);
  const b = await openStore(t, url, { applicationName: 'amsd-b', pollMs: 200, reconnectMs: { first: 60_000, max: 60_000 } });
  const killed = await cluster.query(url, "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = 'amsd-b listen'");
  t.same(killed.rows, [{ done: true }], 'B\'s listening connection is terminated');
  const seen = nextChange(b, touches('rules', id(5)), 5000);
  await a.mutate((d) => d.put('rules', rule('made while B was deaf', 5)));
  await seen;
  t.same(descriptions(b.state.rules), ['made while B was deaf']);
  t.equal(b.listening, false, 'B has not reconnected yet: the poll did it');
});

t.test('after its listening connection is killed, B reconnects and reloads, and gets what changed meanwhile', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const cluster = await postgres.cluster();
  const a = await openStore(t, url);
  await a.mutate((d) => {
    d.put('rules', rule('kept', 1));
    d.put('rules', rule('to be deleted', 2));
  });
  // No poll: only the reload after the reconnect can bring what was changed while B was not listening.
  const b = await openStore(t, url, { applicationName: 'amsd-b', pollMs: 60_000, reconnectMs: { first: 300, max: 300 } });
  t.same(descriptions(b.state.rules), ['kept', 'to be deleted']);
  const ended = nextChange(b, () => true, 5000);
  await cluster.query(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'amsd-b listen'");
  await a.mutate((d) => {
    d.delete('rules', id(2));
    d.put('rules', rule('added meanwhile', 3));
  });
  const change = await ended;
  t.same(descriptions(b.state.rules), ['kept', 'added meanwhile']);
  t.ok(change.collections.get('rules')?.keys.includes(id(2)), 'the deleted key is announced');
  t.ok(change.collections.get('rules')?.keys.includes(id(3)), 'and the added one');
  t.equal(b.listening, true, 'listening again');
  t.equal(b.revision, a.revision);
});

t.test('a store reopened reads the state back: rows in the order they were added, documents, revision and versions', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const first = await openPostgresStore({ url, masterKey });
  t.equal(first.firstStart, true, 'the first start stores the master key check');
  t.same(first.migration.applied.length, MIGRATIONS.length);
  const a = first.store;
  await a.mutate((d) => d.put('rules', rule('one', 3)));
  await a.mutate((d) => d.put('rules', rule('two', 1)));
  await a.mutate((d) => d.put('rules', { ...d.get('rules', id(3))!, description: 'one, changed' }));
  await a.mutate((d) => d.set('settings', { groupCacheSeconds: 5 }));
  await a.close();
  await t.rejects(a.mutate((d) => d.put('rules', rule('late', 9))), /The store is closed/);
  const again = await openPostgresStore({ url, masterKey });
  t.teardown(() => again.store.close());
  t.equal(again.firstStart, false);
  t.same(again.migration.applied, [], 'nothing to migrate');
  const b = again.store;
  t.same(descriptions(b.state.rules), ['one, changed', 'two'], 'a changed row keeps its place');
  t.same(b.state.settings, { groupCacheSeconds: 5 });
  t.same([b.revision, b.version('rules'), b.version('settings'), b.version('apiKeys')], [4, 3, 4, 0]);
});

t.test('a store opened with another master key is refused, saying so', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  await (await openPostgresStore({ url, masterKey })).store.close();
  const error = await openPostgresStore({ url, masterKey: randomBytes(32), masterKeyFile: '/etc/amsd/other.key' }).then(() => undefined, (e: unknown) => e);
  t.type(error, MasterKeyMismatchError);
  t.match((error as Error).message, /The master key \(\/etc\/amsd\/other\.key\) is not the one the database postgres:\/\/.* was first used with/);
  t.match((error as Error).message, /Every daemon on one database needs the same master key/);
  const right = await openStore(t, url);
  t.equal(right.revision, 0, 'the right key still opens it');
});

t.test('a value the store could not load again is refused before anything is written', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const cluster = await postgres.cluster();
  const a = await openStore(t, url);
  await a.mutate((d) => d.put('apiKeys', apiKey('kept')));
  let audited = false;
  const cases: [string, Parameters<Store['mutate']>[0], RegExp][] = [
    ['Infinity', (d) => d.set('settings', { userRateLimitPerDay: Infinity }), /\/settings\/userRateLimitPerDay must be integer/],
    ['a row without a required field', (d) => d.put('apiKeys', { ...apiKey('x', 2), hash: undefined as never }), /must have required property 'hash'/],
    ['a bad row among good ones', (d) => {
      d.put('apiKeys', apiKey('good', 3));
      d.put('apiKeys', { ...apiKey('bad', 4), role: 'root' as never });
    }, /role must be equal to one of the allowed values/],
    // JSON holds it, jsonb does not: refused as a value the store cannot keep, not a failed write.
    ['the NUL character', (d) => d.put('rules', rule('nul \u0000 inside', 5)), new RegExp(`/rules/${id(5)}/description holds the NUL character`)],
    ['a lone surrogate', (d) => d.put('rules', rule('lone \ud800', 6)), /holds a lone UTF-16 surrogate/],
  ];
  for (const [name, change, problem] of cases) {
    const error = await a.mutate(change, async () => void (audited = true)).then(() => undefined, (e: unknown) => e);
    t.type(error, StateCheckError, name);
    t.match((error as Error).message, problem, `${name}: says why`);
    t.match((error as Error).message, /The change was not written/);
  }
  t.equal(audited, false, 'beforeCommit never ran for a change that is not made');
  t.same((await cluster.query(url, 'SELECT revision::int AS revision FROM revision')).rows, [{ revision: 1 }], 'nothing was written');
  t.same((await cluster.query(url, 'SELECT count(*)::int AS n FROM api_keys')).rows, [{ n: 1 }]);
  t.equal(a.revision, 1);

  await t.rejects(a.mutate((d) => d.put('apiKeys', apiKey('unaudited', 7)), async () => Promise.reject(new Error('the audit trail is full'))), /the audit trail is full/);
  t.same((await cluster.query(url, 'SELECT count(*)::int AS n FROM api_keys')).rows, [{ n: 1 }], 'a change whose record cannot be written is not made');
  t.equal(a.state.apiKeys.length, 1);
});

t.test('a row in the database that this amsd cannot load is refused at open, naming it', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const cluster = await postgres.cluster();
  await (await openPostgresStore({ url, masterKey })).store.close();
  await cluster.query(url, `INSERT INTO api_keys (key, value, version) VALUES ($1, $2, 1)`, [id(1), JSON.stringify({ ...apiKey('x'), role: 'root' })]);
  const error = await openPostgresStore({ url, masterKey }).then(() => undefined, (e: unknown) => e);
  t.type(error, DatabaseStateError);
  t.match((error as Error).message, new RegExp(`The database postgres://.* holds a state amsd cannot use: /apiKeys/${id(1)}/role must be equal to one of the allowed values`));
});

t.test('a database that cannot be reached is refused at open, the URL\'s password never in the message', needsPostgres(t), async (t) => {
  const url = (await postgres.database()).replace('postgres@', 'postgres:Sup3r-Secret-pw@').replace(/:\d+\//, ':1/');
  const error = await openPostgresStore({ url, masterKey }).then(() => undefined, (e: unknown) => e);
  t.match((error as Error).message, /ECONNREFUSED/);
  t.notMatch((error as Error).message, 'Sup3r-Secret-pw');
});

t.test('B further behind than the change log reaches reads the whole state afresh, and announces every key that moved', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const cluster = await postgres.cluster();
  const a = await openStore(t, url);
  await a.mutate((d) => {
    d.put('rules', rule('stays', 1));
    d.put('rules', rule('goes', 2));
  });
  const b = await openStore(t, url, { pollMs: 200, applicationName: 'amsd-b', reconnectMs: { first: 60_000, max: 60_000 } });
  await cluster.query(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'amsd-b listen'");
  await a.mutate((d) => void d.delete('rules', id(2)));
  await a.mutate((d) => d.put('rules', rule('new', 3)));
  // What pruning leaves: the log no longer holds the changes B has not seen.
  await cluster.query(url, 'DELETE FROM changes');
  const seen = nextChange(b, (c) => c.revision === a.revision, 5000);
  const change = await seen;
  t.same(descriptions(b.state.rules), ['stays', 'new']);
  t.same([...(change.collections.get('rules')?.keys ?? [])].sort(), [id(1), id(2), id(3)], 'every key it had or has');
  t.equal(b.version('rules'), a.version('rules'));
});

t.test('connections killed under a store: the next change gets a new one, and the listening one comes back', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const cluster = await postgres.cluster();
  const errors: unknown[] = [];
  const a = await openStore(t, url, { applicationName: 'amsd-a', reconnectMs: { first: 50, max: 200 }, onError: (e) => errors.push(e) });
  const b = await openStore(t, url);
  await a.mutate((d) => d.put('rules', rule('before', 1)));
  const killed = await cluster.query<{ n: number }>(url, "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name LIKE 'amsd-a%'");
  t.ok(killed.rows[0]!.n >= 2, 'the pool\'s connection and the listening one');
  // A dead pooled connection fails the change it is handed to; the pool then makes new ones.
  let done = false;
  let attempts = 0;
  for (; attempts < 3 && !done; attempts++) {
    done = await a.mutate((d) => d.put('rules', rule('after', 2))).then(() => true, () => false);
  }
  t.ok(done, 'a change succeeds again');
  const seen = b.get('rules', id(2)) ? Promise.resolve() : nextChange(b, touches('rules', id(2)), 2000);
  await seen;
  t.equal(b.get('rules', id(2))?.description, 'after', 'and reaches B');
  for (let i = 0; i < 100 && !a.listening; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(a.listening, true, 'A listens again');
  t.ok(errors.length > 0, 'the lost connections were reported');
});

t.test('the database restarts: changes fail while it is down, then both stores carry on and follow each other again', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const cluster = await postgres.cluster();
  const errors: unknown[] = [];
  const a = await openStore(t, url, { reconnectMs: { first: 50, max: 500 }, onError: (e) => errors.push(e) });
  const b = await openStore(t, url, { reconnectMs: { first: 50, max: 500 }, onError: (e) => errors.push(e) });
  await a.mutate((d) => d.put('rules', rule('before the restart', 1)));
  await cluster.restart();
  // The first change after a restart may meet a connection the server cut: the error is passed on, nothing is half-made.
  let made = false;
  for (let attempt = 0; attempt < 5 && !made; attempt++) made = await a.mutate((d) => d.put('rules', rule('after the restart', 2))).then(() => true, () => false);
  t.ok(made, 'changes work again after the restart');
  const seen = b.get('rules', id(2)) ? Promise.resolve() : nextChange(b, touches('rules', id(2)), 5000);
  await seen;
  t.same(descriptions(b.state.rules), ['before the restart', 'after the restart'], 'B follows A again');
  const back = nextChange(a, touches('rules', id(3)), 5000);
  await b.mutate((d) => d.put('rules', rule('from B', 3)));
  await back;
  t.same(descriptions(a.state.rules), ['before the restart', 'after the restart', 'from B'], 'and A follows B');
  t.ok(errors.length > 0, 'the cut connections were reported');
});
