/**
 * The PostgreSQL schema against a real server: applied from empty in one step, a no-op the second
 * time, applied once when two daemons migrate at once, and a newer schema refused naming both
 * versions; `amsd db migrate` says what it did and never prints the URL's password.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import t, { type Test } from 'tap';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, SchemaTooNewError, describeMigration, migrate } from '../../../daemon/store/postgres/migrations.js';
import { openPostgresStore } from '../../../daemon/store/postgres/postgres-store.js';
import { packageRoot } from '../../../openapi/package-root.js';
import { needsPostgres, postgresClusterFor } from './cluster.js';

const postgres = postgresClusterFor(t);
const run = promisify(execFile);

async function connect(t: Test, url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  t.teardown(() => client.end());
  return client;
}

const tables = async (client: pg.Client) =>
  (await client.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).rows.map((r) => r.name);

t.test('an empty database is migrated to the latest version in one step; a second time is a no-op', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const client = await connect(t, url);
  const first = await migrate(client, 'db');
  t.same([first.from, first.to, first.applied.map((m) => m.version)], [0, LATEST_SCHEMA_VERSION, MIGRATIONS.map((m) => m.version)]);
  t.same(await tables(client), ['api_keys', 'audit_events', 'audit_head', 'changes', 'channels', 'collection_versions', 'documents', 'master_key_check', 'notification_deliveries', 'notification_failures', 'rate_counts', 'revision', 'rotation_jobs', 'rules', 'schema_version', 'tenants']);
  t.same((await client.query('SELECT version, description FROM schema_version')).rows, MIGRATIONS.map((m) => ({ version: m.version, description: m.description })));
  t.match(describeMigration('db', first), new RegExp(`^Migrated the database db from schema version 0 to ${LATEST_SCHEMA_VERSION}:\\n {2}1: the state.*\\n {2}2: the audit trail.*\\n {2}3: the notification queue.*\\n {2}4: the password rotation jobs`));

  const second = await migrate(client, 'db');
  t.same([second.from, second.to, second.applied], [LATEST_SCHEMA_VERSION, LATEST_SCHEMA_VERSION, []]);
  t.equal(describeMigration('db', second), `The database db is at schema version ${LATEST_SCHEMA_VERSION}, the latest this amsd knows: nothing to do.\n`);
  t.equal((await client.query('SELECT count(*)::int AS n FROM schema_version')).rows[0].n, MIGRATIONS.length, 'no step recorded twice');
});

t.test('two daemons migrating at once: the advisory lock makes one apply the steps and the other find nothing to do', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const clients = await Promise.all(Array.from({ length: 4 }, () => connect(t, url)));
  const results = await Promise.all(clients.map((c) => migrate(c, 'db')));
  t.same(results.map((r) => r.applied.length).sort(), [0, 0, 0, MIGRATIONS.length]);
  t.equal((await clients[0]!.query('SELECT count(*)::int AS n FROM schema_version')).rows[0].n, MIGRATIONS.length);
});

t.test('a failing step leaves the database as it was', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const client = await connect(t, url);
  const broken = [...MIGRATIONS, { version: LATEST_SCHEMA_VERSION + 1, description: 'broken', sql: 'CREATE TABLE later (x int); SELECT no_such_function()' }];
  await t.rejects(migrate(client, 'db', broken), /no_such_function/);
  t.same(await tables(client), [], 'not even the first step or schema_version is left');
});

t.test('a database of a newer schema is refused, naming both versions, by migrate and by the store', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const client = await connect(t, url);
  await migrate(client, 'db');
  await client.query("INSERT INTO schema_version (version, description) VALUES (99, 'from the future')");
  const error = await migrate(client, 'the-db').then(() => undefined, (e: unknown) => e);
  t.type(error, SchemaTooNewError);
  t.match((error as Error).message, `The database the-db has schema version 99, newer than this amsd knows (versions 1 to ${LATEST_SCHEMA_VERSION})`);
  await t.rejects(openPostgresStore({ url, masterKey: randomBytes(32) }), /has schema version 99, newer than this amsd knows/);
  t.equal((await client.query('SELECT max(version)::int AS v FROM schema_version')).rows[0].v, 99, 'left as it was');
});

t.test('amsd db migrate: says what it applied, then that there is nothing to do; never prints the password', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const withPassword = url.replace('postgres@', 'postgres:Sup3r-Secret-pw@'); // the cluster trusts loopback: any password works
  const cli = join(packageRoot, 'dist', 'daemon', 'cli.js');
  const first = await run(process.execPath, [cli, 'db', 'migrate', '--database', withPassword]);
  t.match(first.stdout, new RegExp(`^Migrated the database postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/amsd_test_\\d+ from schema version 0 to ${LATEST_SCHEMA_VERSION}:\n {2}1: `));
  // AMS_DATABASE_URL as well as --database.
  const second = await run(process.execPath, [cli, 'db', 'migrate'], { env: { ...process.env, AMS_DATABASE_URL: withPassword } });
  t.match(second.stdout, `is at schema version ${LATEST_SCHEMA_VERSION}, the latest this amsd knows: nothing to do`);

  const port = (await postgres.cluster()).port;
  const unreachable = withPassword.replace(`:${port}/`, ':1/');
  const failed = await run(process.execPath, [cli, 'db', 'migrate', '--database', unreachable]).then(() => undefined, (e: { code: number; stdout: string; stderr: string }) => e);
  t.equal(failed?.code, 1, 'exit code 1 when the database cannot be reached');
  t.match(failed?.stderr, /amsd: the database postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/amsd_test_\d+ could not be migrated: .*ECONNREFUSED/);
  const notUrl = await run(process.execPath, [cli, 'db', 'migrate', '--database', 'mysql://root:Sup3r-Secret-pw@db/x']).then(() => undefined, (e: { stderr: string }) => e);
  t.match(notUrl?.stderr, /has the scheme mysql, not postgres or postgresql/);
  for (const text of [first.stdout, first.stderr, second.stdout, second.stderr, failed?.stdout, failed?.stderr, notUrl?.stderr]) t.notMatch(text ?? '', 'Sup3r-Secret-pw');
});
