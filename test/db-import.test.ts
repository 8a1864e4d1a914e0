/**
 * `amsd db import`: a data directory's state and verified audit trail copied into an empty database in
 * one transaction; `serve --database` then reads the same rules and keys, the imported events are
 * queryable, and the chain verifies and goes on. Refused, with nothing written: a database that is not
 * empty, a trail that does not verify, a master key that does not open the secrets; and a failure
 * half-way leaves the database empty.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { packageRoot } from '../openapi/package-root.js';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import { runAuditVerifyDatabase } from '../daemon/audit/postgres-verify.js';
import { runDbImport } from '../daemon/db-import.js';
import { runDbMigrate } from '../daemon/store/postgres/migrate-command.js';
import { createKey, createRule, registerTenant, simulatedTenantFor, startTestDaemon, tempDir, type TestDaemon } from './helpers.js';
import { needsPostgres, postgresClusterFor } from './store/postgres/cluster.js';

const postgres = postgresClusterFor(t);
const LAPS = '/v1/secrets/local-admin-password';

function collect(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  return { stream, text: () => text };
}

async function importInto(dataDir: string, url: string, masterKeyFile?: string): Promise<{ code: number; out: string }> {
  const out = collect();
  const code = await runDbImport({ dataDir, url, out: out.stream, ...(masterKeyFile ? { masterKeyFile } : {}) });
  return { code, out: out.text() };
}

/** A data directory served by the embedded store: a tenant, a rule, a user's key, a read and a refusal on its trail; then stopped. */
async function servedDataDir(t: Test) {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 10 });
  const dataDir = join(await tempDir(t), 'data');
  const daemon = await startTestDaemon(t, dataDir, { caFile, logLevel: 'warn' });
  await registerTenant(t, daemon, tenant);
  const rule = await createRule(t, daemon, { description: 'Helpdesk', tenantId: tenant.tenantId, principalsAllowedLaps: ['AMS-Helpdesk'] });
  const key = await createKey(t, daemon, { name: 'helpdesk', role: 'user', tenantId: tenant.tenantId, principalId: tenant.directory.users[0]!.id });
  const device = tenant.directory.devices[0]!;
  t.equal((await daemon.call({ method: 'POST', url: LAPS, key, body: { computerName: device.displayName } })).statusCode, 200);
  t.equal((await daemon.call({ method: 'POST', url: LAPS, key, body: { computerName: 'PC-NOWHERE' } })).statusCode, 404);
  const events = (await daemon.call({ url: '/v1/audit-events?top=1000' })).json<{ items: { seq: number; id: string; hash: string }[] }>().items;
  await daemon.app.close();
  return { tenant, caFile, dataDir, rule, key, device, events };
}

const count = async (url: string, sql: string) => Number((await (await postgres.cluster()).query<{ n: string }>(url, sql)).rows[0]!.n);

t.test('import, then serve --database: the same rules and keys, the imported events queryable, the chain verified and going on', needsPostgres(t), async (t) => {
  const { caFile, dataDir, rule, key, device, events } = await servedDataDir(t);
  const url = await postgres.database();
  const imported = await importInto(dataDir, url);
  t.equal(imported.code, 0, imported.out);
  t.match(imported.out, new RegExp(`^imported .*amsd\\.json and its audit trail into postgres://postgres@127\\.0\\.0\\.1:\\d+/\\w+, in one transaction:\\n  state: 2 apiKeys, 1 tenants, 1 rules, 0 channels, the settings\\n  audit trail [0-9a-f-]+: ${events.length} events \\(seq 1 to ${events.length}\\)`));

  const served: TestDaemon = await startTestDaemon(t, dataDir, { caFile, databaseUrl: url, logLevel: 'warn' });
  t.equal(served.bootstrapKeyFile, undefined, 'no new admin key: the imported one works');
  t.same((await served.call({ url: '/v1/computer-authorization-rules' })).json().items.map((r: { id: string }) => r.id), [rule.id], 'the same rules');
  const read = await served.call({ method: 'POST', url: LAPS, key, body: { computerName: device.displayName } });
  t.equal(read.statusCode, 200, 'the user key works, the tenant secret opens, the rule grants');
  const after = (await served.call({ url: '/v1/audit-events?top=1000' })).json<{ items: { seq: number; id: string; hash: string; prevHash: string }[] }>().items;
  t.same(after.slice(1).map((e) => [e.seq, e.id, e.hash]), events.map((e) => [e.seq, e.id, e.hash]), 'every imported event, as it was');
  t.match(after[0], { seq: events.length + 1, prevHash: events[0]!.hash }, 'the new read goes on from the imported head');
  const refusals = (await served.call({ url: '/v1/audit-events?device=PC-NOWHERE' })).json().items;
  t.equal(refusals.length, 1, 'the imported events answer filters');
  await served.app.close();

  const verify = collect();
  t.equal(await runAuditVerifyDatabase(url, verify.stream, { dataDir }), 0);
  t.match(verify.text(), `audit trail OK: ${events.length + 1} events, keyed chain intact`);
});

t.test("the data directory's password rotations move too: a pending one is run by the daemon on the database", needsPostgres(t), async (t) => {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 10, rotationDelayMs: 10 });
  const dataDir = join(await tempDir(t), 'data');
  const embedded = await startTestDaemon(t, dataDir, { caFile, logLevel: 'warn' });
  await registerTenant(t, embedded, tenant);
  await createRule(t, embedded, { description: 'Helpdesk, rotated an hour after reading', tenantId: tenant.tenantId, principalsAllowedLaps: ['AMS-Helpdesk'], rotateAfterReadMinutes: 60 });
  const key = await createKey(t, embedded, { name: 'helpdesk', role: 'user', tenantId: tenant.tenantId, principalId: tenant.directory.users[0]!.id });
  const read = (await embedded.call({ method: 'POST', url: LAPS, key, body: { computerName: 'PC-0001' } })).json();
  t.ok(read.rotationId, 'a rotation is pending in the data directory');
  await embedded.app.close();

  const url = await postgres.database();
  const imported = await importInto(dataDir, url);
  t.equal(imported.code, 0, imported.out);
  t.match(imported.out, /\n {2}password rotations: 1 \(1 pending, run by the daemons on the database from now on\)\n/);

  const served = await startTestDaemon(t, dataDir, { caFile, databaseUrl: url, logLevel: 'warn', adminKey: embedded.adminKey });
  const [job] = (await served.call({ url: '/v1/password-rotations' })).json().items;
  t.match(job, { id: read.rotationId, status: 'pending', dueAt: read.rotationScheduledAt, deviceName: 'PC-0001' });
  const now = await served.call({ method: 'POST', url: '/v1/secrets/local-admin-password/rotation', body: { computerName: 'PC-0001' } });
  t.equal(now.json().id, read.rotationId, 'the imported job is the pending one: asking now moves it');
  let done = [];
  for (let i = 0; i < 200 && done.length === 0; i++) {
    done = (await served.call({ url: '/v1/password-rotations?status=done' })).json().items;
    if (done.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  t.equal(done.length, 1, 'run by the daemon on the database');
  t.equal(tenant.intune.rotations.length, 1);
  await served.app.close();

  const again = await importInto(dataDir, await postgres.database());
  t.equal(again.code, 0, 'a database of its own takes it again');
  t.match(again.out, /password rotations: 1 \(1 pending/, 'the data directory was left as it was');
});

t.test('a database that holds state or events is refused, and left as it was', needsPostgres(t), async (t) => {
  const { dataDir } = await servedDataDir(t);
  const url = await postgres.database();
  const other = await startTestDaemon(t, undefined, { databaseUrl: url, masterKeyFile: join(dataDir, 'master.key'), logLevel: 'warn' });
  await other.app.close();
  const keysBefore = await count(url, 'SELECT count(*) AS n FROM api_keys');
  const refused = await importInto(dataDir, url);
  t.equal(refused.code, 1);
  t.match(refused.out, /^amsd db import refused: the database postgres:\/\/\S+ is not empty \(it holds 1 apiKeys\): db import only fills an empty database\. Nothing was copied\.\n$/);
  t.equal(await count(url, 'SELECT count(*) AS n FROM api_keys'), keysBefore, 'its keys as they were');
  t.equal(await count(url, 'SELECT count(*) AS n FROM tenants'), 0, 'no tenant copied');
});

t.test('a trail that does not verify is refused before anything is written', needsPostgres(t), async (t) => {
  const { dataDir } = await servedDataDir(t);
  const file = join(dataDir, 'audit', 'audit.jsonl');
  const lines = (await readFile(file, 'utf8')).split('\n');
  lines[1] = lines[1]!.replace('"Helpdesk"', '"Everyone"');
  await writeFile(file, lines.join('\n'));
  const url = await postgres.database();
  const refused = await importInto(dataDir, url);
  t.equal(refused.code, 1);
  t.match(refused.out, /^amsd db import refused: the audit trail .*audit\.jsonl does not verify: broken at line 2 \(seq 2\): hash mismatch/);
  t.equal(await count(url, "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'"), 0, 'the database was not even touched');
});

t.test('a master key that does not open the secrets is refused', needsPostgres(t), async (t) => {
  const { dataDir } = await servedDataDir(t);
  const otherKey = join(await tempDir(t), 'other.key');
  await writeFile(otherKey, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  const url = await postgres.database();
  const refused = await importInto(dataDir, url, otherKey);
  t.equal(refused.code, 1);
  t.match(refused.out, /^amsd db import refused: the master key .*other\.key does not open the client secret of tenant [0-9a-f-]+: it is not the key this data directory was written with\. Nothing was copied\./);
});

t.test('a failure half-way (the database refuses an event) leaves the database empty; once mended, the import works', needsPostgres(t), async (t) => {
  const { dataDir, events } = await servedDataDir(t);
  const url = await postgres.database();
  t.equal(await runDbMigrate(url, collect().stream, collect().stream), 0);
  const cluster = await postgres.cluster();
  await cluster.query(
    url,
    `CREATE FUNCTION refuse_seq_2() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.seq = 2 THEN RAISE EXCEPTION 'no room (test)'; END IF; RETURN NEW; END $$;
     CREATE TRIGGER refuse_seq_2 BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_seq_2();`,
  );
  const failed = await importInto(dataDir, url);
  t.equal(failed.code, 1);
  t.match(failed.out, /^amsd db import failed, nothing was copied: no room \(test\)/);
  for (const table of ['api_keys', 'tenants', 'rules', 'audit_events', 'master_key_check', 'changes']) t.equal(await count(url, `SELECT count(*) AS n FROM ${table}`), 0, `${table}: empty`);
  t.equal(await count(url, 'SELECT revision AS n FROM revision'), 0, 'revision 0');
  t.equal(await count(url, "SELECT count(*) AS n FROM documents WHERE name = 'auditTrail' AND value IS NOT NULL"), 0, 'no trail named');

  await cluster.query(url, 'DROP TRIGGER refuse_seq_2 ON audit_events');
  const mended = await importInto(dataDir, url);
  t.equal(mended.code, 0, mended.out);
  t.equal(await count(url, 'SELECT count(*) AS n FROM audit_events'), events.length);
});

t.test('the CLI: amsd db import and amsd audit verify, with AMS_DATABASE_URL; the password never printed', needsPostgres(t), async (t) => {
  const { dataDir, events } = await servedDataDir(t);
  const url = (await postgres.database()).replace('postgres@', 'postgres:Sup3r-Secret-pw@'); // the cluster trusts loopback: any password works
  const cli = join(packageRoot, 'dist', 'daemon', 'cli.js');
  const env = { ...process.env, AMS_DATABASE_URL: url };
  const run = promisify(execFile);
  const imported = await run(process.execPath, [cli, 'db', 'import', '--data-dir', dataDir], { env });
  t.match(imported.stdout, /^imported .* into postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/\w+, in one transaction:/);
  const verified = await run(process.execPath, [cli, 'audit', 'verify', '--data-dir', dataDir], { env });
  t.match(verified.stdout, new RegExp(`^audit trail OK: ${events.length} events, keyed chain intact\\n  database: postgres://postgres:\\*\\*\\*@`));
  const again = await run(process.execPath, [cli, 'db', 'import', '--data-dir', dataDir], { env }).then(() => undefined, (e: { code: number; stdout: string }) => e);
  t.equal(again?.code, 1, 'a second import is refused: exit code 1');
  t.match(again?.stdout, /is not empty/);
  for (const text of [imported.stdout, imported.stderr, verified.stdout, verified.stderr, again?.stdout ?? '']) t.notMatch(text, 'Sup3r-Secret-pw');
});
