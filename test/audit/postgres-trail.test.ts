/**
 * The audit trail in PostgreSQL: two trails on one database (as two daemons) appending at once give
 * one chain with no gap, fork or duplicate; an append that cannot commit rejects and leaves nothing;
 * a restart goes on with the chain; the table is append-only but for retention; start refuses a
 * chain changed after its checkpoint; a filtered query uses an index; and `amsd audit verify
 * --database` says OK or BROKEN, as it does for a file.
 */
import { Writable } from 'node:stream';
import t from 'tap';
import { AuditWriteError } from '../../daemon/common/errors.js';
import { parseAuditQuery } from '../../daemon/audit/event-index.js';
import type { AuditEvent } from '../../daemon/audit/events.js';
import { pageQuery } from '../../daemon/audit/postgres-trail.js';
import { runAuditVerifyDatabase, verifyDatabaseChain } from '../../daemon/audit/postgres-verify.js';
import { AuditCheckpoints, AuditTrailError } from '../../daemon/audit/trail.js';
import { inSnapshot, withClient } from '../../daemon/store/postgres/connections.js';
import { needsPostgres, postgresClusterFor } from '../store/postgres/cluster.js';
import { tempDir } from '../helpers.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openDatabaseTrail, seededDatabaseTrail, type OpenedDatabaseTrail } from './database-trail.js';
import { alice, bob, change, pc1, pc2, secretRead, testMasterKey } from './sample-events.js';

const postgres = postgresClusterFor(t);

/** The chain in the database, checked end to end under the trail's key and the state's checkpoint. */
async function verify(opened: OpenedDatabaseTrail) {
  return withClient(opened.store.pool, (client) => inSnapshot(client, () => verifyDatabaseChain(client, opened.trail.key, opened.store.state.auditTrail?.checkpoint)));
}

t.test('two trails on one database appending at once: one chain, every seq once, no fork', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const a = await openDatabaseTrail(t, url);
  const b = await openDatabaseTrail(t, url);
  t.equal(a.trail.key.trailId, b.trail.key.trailId, 'both found the one trail the state names');
  const appended: AuditEvent[] = [];
  // Rounds of bursts from both at once: each burst one transaction (group commit), the two racing for the head row.
  for (let round = 0; round < 20; round++) {
    const burst = [
      ...Array.from({ length: 10 }, () => a.trail.append(secretRead(alice, pc1))),
      ...Array.from({ length: 10 }, () => b.trail.append(secretRead(bob, pc2))),
    ];
    appended.push(...(await Promise.all(burst)));
  }
  const seqs = appended.map((event) => event.seq).sort((x, y) => x - y);
  t.same(seqs, Array.from({ length: 400 }, (_, i) => i + 1), '400 events, seqs 1 to 400, each once');
  const result = await verify(a);
  t.match(result, { ok: true, events: 400 }, 'the chain verifies end to end');
  t.equal(Math.max(a.trail.head.seq, b.trail.head.seq), 400, 'the last to commit knows the head');
  const page = await b.trail.query({ top: 1000 });
  t.equal(page.events.length, 400, "B's query sees A's events too");
  t.same(page.events.map((e) => e.seq), seqs.slice().reverse(), 'newest first');
});

t.test('an append that cannot commit rejects, and nothing of its batch is written', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const opened = await openDatabaseTrail(t, url);
  await opened.trail.append(secretRead(alice, pc1));
  // A real refusal by the database, for one batch: a trigger refusing bob's reads.
  await postgres.cluster().then((c) =>
    c.query(url, `CREATE FUNCTION refuse_bob() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.event LIKE '%bob@contoso%' THEN RAISE EXCEPTION 'disk full (test)'; END IF; RETURN NEW; END $$;
                  CREATE TRIGGER refuse_bob BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_bob();`),
  );
  const batch = await Promise.allSettled([opened.trail.append(secretRead(alice, pc2)), opened.trail.append(secretRead(bob, pc2))]);
  t.match(batch, [{ status: 'rejected' }, { status: 'rejected' }], 'the whole batch (one transaction) rejects');
  const reason = (batch[0] as PromiseRejectedResult).reason as Error;
  t.type(reason, AuditWriteError, 'as AuditWriteError: a read answers 503');
  t.match(reason.message, /The audit trail in the database .* cannot be written \(.*disk full \(test\)\)/);
  t.equal(opened.trail.head.seq, 1, 'the head did not move');
  t.equal((await opened.trail.query()).events.length, 1, 'nothing of the batch is in the table');
  const next = await opened.trail.append(secretRead(alice, pc1));
  t.equal(next.seq, 2, 'the next append links to the head as it is');
  t.match(await verify(opened), { ok: true, events: 2 });
});

t.test('a restart goes on with the chain', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const first = await openDatabaseTrail(t, url);
  for (let i = 0; i < 5; i++) await first.trail.append(change(alice, 'rule.created', undefined, { n: i }));
  const id = first.trail.key.trailId;
  await first.close();
  const again = await openDatabaseTrail(t, url);
  t.equal(again.trail.key.trailId, id, 'the same trail');
  t.same(again.trail.head, first.trail.head, 'the head as it was left');
  const event = await again.trail.append(secretRead(alice, pc1));
  t.match(event, { seq: 6, prevHash: first.trail.head.hash }, 'linked to the last event before the restart');
  t.match(await verify(again), { ok: true, events: 6 });
});

t.test('checkpoints of two daemons: the state keeps the newest head, never an older one', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const a = await openDatabaseTrail(t, url);
  const b = await openDatabaseTrail(t, url);
  await b.trail.append(secretRead(bob, pc1));
  for (let i = 0; i < 5; i++) await a.trail.append(secretRead(alice, pc1));
  t.same([a.trail.head.seq, b.trail.head.seq], [6, 1], 'B last saw seq 1');
  const hour = { everyMs: 3_600_000 };
  await new AuditCheckpoints(a.store, a.trail, testMasterKey, hour).close();
  t.equal(a.store.state.auditTrail?.checkpoint.seq, 6, "A checkpointed its head");
  // B's replica may not have heard of A's checkpoint yet: its change runs again on the fresh state, and finds nothing to do.
  await new AuditCheckpoints(b.store, b.trail, testMasterKey, hour).close();
  await b.store.idle();
  const fresh = await openDatabaseTrail(t, url);
  t.match(fresh.store.state.auditTrail?.checkpoint, { seq: 6, hash: a.trail.head.hash }, 'the checkpoint is still seq 6');
});

t.test('the table is append-only: an UPDATE or a DELETE is refused by the database', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const opened = await openDatabaseTrail(t, url);
  await opened.trail.append(secretRead(alice, pc1));
  const cluster = await postgres.cluster();
  await t.rejects(cluster.query(url, "UPDATE audit_events SET event = '{}'"), /audit_events is append-only: UPDATE refused/);
  await t.rejects(cluster.query(url, 'DELETE FROM audit_events'), /audit_events is append-only: DELETE refused/);
  await t.rejects(cluster.query(url, 'TRUNCATE audit_events'), /append-only: TRUNCATE refused/);
  t.equal((await opened.trail.query()).events.length, 1);
});

t.test('retention on the database: audit.pruned is appended and the older events go, in one transaction; the trail verifies', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const opened = await openDatabaseTrail(t, url);
  for (let i = 0; i < 10; i++) await opened.trail.append(secretRead(alice, pc1));
  t.same(await opened.trail.prune({ keepLast: 4 }), { removed: 6 });
  const page = await opened.trail.query({ top: 1000 });
  t.same(page.events.map((e) => e.seq), [11, 10, 9, 8, 7], 'seqs 7 to 10 kept, and the audit.pruned event');
  t.match(page.events[0], { type: 'audit.pruned', pruned: { throughSeq: 6, events: 6, keepLast: 4 } });
  t.match(await verify(opened), { ok: true, firstSeq: 7, events: 11 });
  t.same(await opened.trail.prune({ keepLast: 100 }), { removed: 0 }, 'nothing more to prune');
});

t.test('start refuses a chain changed after its checkpoint, and a cut past it', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const opened = await openDatabaseTrail(t, url);
  for (let i = 0; i < 3; i++) await opened.trail.append(secretRead(alice, pc1));
  await opened.store.mutate(() => undefined);
  await opened.close();
  const cluster = await postgres.cluster();
  // The owner of the database can switch the trigger off: the keyed chain still tells.
  await cluster.query(url, `ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only; UPDATE audit_events SET event = replace(event, 'PC-001', 'PC-666') WHERE seq = 3`);
  const refused = await openDatabaseTrail(t, url).then(() => undefined, (e: unknown) => e);
  t.type(refused, AuditTrailError);
  t.match((refused as Error).message, /The audit trail in the database .* cannot be used: broken at seq 3: hash mismatch/);
  const out = collect();
  t.equal(await runAuditVerifyDatabase(url, out.stream, { dataDir: await keyDir(t) }), 1);
  t.match(out.text(), /^audit trail BROKEN at row 3 \(seq 3\): hash mismatch/);
});

t.test('a trail whose record was removed from the state is refused by start and by verify', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const opened = await openDatabaseTrail(t, url);
  await opened.trail.append(secretRead(alice, pc1));
  await opened.close();
  await (await postgres.cluster()).query(url, "UPDATE documents SET value = NULL WHERE name = 'auditTrail'");
  const refused = await openDatabaseTrail(t, url).then(() => undefined, (e: unknown) => e);
  t.match((refused as Error).message, /cannot be used: the state names no audit trail, yet the database holds events up to seq 1: the auditTrail document was removed/);
  const out = collect();
  t.equal(await runAuditVerifyDatabase(url, out.stream, { dataDir: await keyDir(t) }), 1);
  t.match(out.text(), /^audit trail REFUSED: the state names no audit trail, yet the database holds events up to seq 1/);
  const empty = collect();
  t.equal(await runAuditVerifyDatabase(await postgres.database(), empty.stream, { dataDir: await keyDir(t) }), 1);
  t.match(empty.text(), /^audit trail REFUSED: the database holds no audit trail \(its schema is older than version 2/, 'a database no daemon served on');
});

t.test('amsd audit verify --database: OK with what it checked; exit 0', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const opened = await openDatabaseTrail(t, url);
  for (let i = 0; i < 3; i++) await opened.trail.append(secretRead(alice, pc1));
  const out = collect();
  t.equal(await runAuditVerifyDatabase(url, out.stream, { dataDir: await keyDir(t) }), 0);
  t.match(out.text(), new RegExp(`^audit trail OK: 3 events, keyed chain intact\\n  database: postgres://postgres@127\\.0\\.0\\.1:\\d+/\\w+ \\(table audit_events, shared by every daemon on it\\)\\n  trail: ${opened.trail.key.trailId} \\(named in the database's auditTrail document\\)\\n  checkpoint: seq \\d+ at .*, reached\\n  last hash: ${opened.trail.head.hash}`));
  const cut = collect();
  const cluster = await postgres.cluster();
  await cluster.query(url, 'ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only; DELETE FROM audit_events WHERE seq = 3');
  t.equal(await runAuditVerifyDatabase(url, cut.stream, { dataDir: await keyDir(t) }), 1);
  t.match(cut.text(), /^audit trail BROKEN at row 3: the head row says seq 3, but the last event is seq 2/, 'an event cut from the end: the head row tells');
});

t.test('a filtered query uses an index, not a scan of the table', needsPostgres(t), async (t) => {
  const url = await postgres.database();
  const users = Array.from({ length: 50 }, (_, i) => ({ ...alice, id: `user-${i}`, userPrincipalName: `user${i}@contoso.example`, displayName: `User ${i}` }));
  const rareUser = { ...bob, id: 'rare-1', userPrincipalName: 'rare@contoso.example', displayName: 'Rare' };
  const rareDevice = { ...pc2, deviceName: 'PC-RARE', deviceId: 'dddd9999-0000-4000-8000-000000009999', objectId: 'oooo9999' };
  const base = Date.parse('2024-01-01T00:00:00.000Z');
  const { sealEvent, GENESIS_HASH } = await import('../../daemon/audit/chain.js');
  const { testKey } = await import('./sample-events.js');
  const events: AuditEvent[] = [];
  let hash = GENESIS_HASH;
  for (let i = 0; i < 20_000; i++) {
    // Mostly 50 users on two devices; every 2000th event a rare user, device, type and outcome, which their own index finds.
    const rare = i % 2000 === 1000;
    const content = rare
      ? { ...secretRead(rareUser, rareDevice, 'UserRateLimitExceeded', 'BitLockerRecoveryKey') }
      : i % 10 === 9
        ? change(users[i % 50]!, 'rule.updated')
        : secretRead(users[i % 50]!, i % 2 ? pc1 : pc2, i % 7 ? 'Success' : 'ExplicitlyDenied');
    const event = sealEvent(content, i + 1, hash, testKey, new Date(base + i * 1000));
    events.push(event);
    hash = event.hash;
  }
  const opened = await seededDatabaseTrail(t, url, events);
  const cluster = await postgres.cluster();
  await cluster.query(url, 'ANALYZE audit_events');
  // [name, query, the index a selective filter must use (a common one may walk the seq index backwards instead, which is cheaper for a page)]
  const cases: [string, Parameters<typeof parseAuditQuery>[0], string | undefined][] = [
    ['a common user', { user: 'user7@contoso.example' }, undefined],
    ['a common device and outcome', { device: 'pc-001', outcome: 'ExplicitlyDenied' }, undefined],
    ['a common type', { type: 'rule.updated' }, undefined],
    ['a common user, paging on', { user: 'user7@contoso.example', cursor: '10000', top: 10 }, undefined],
    ['a rare user', { user: 'RARE@contoso.example' }, 'audit_events_actor'],
    ['a rare device', { device: 'pc-rare' }, 'audit_events_device'],
    ['a rare access type', { accessType: 'BitLockerRecoveryKey' }, 'audit_events_access_type'],
    ['a rare outcome', { outcome: 'UserRateLimitExceeded' }, 'audit_events_outcome'],
    ['a time range', { from: new Date(base + 5000 * 1000).toISOString(), to: new Date(base + 5100 * 1000).toISOString() }, 'audit_events_time'],
  ];
  for (const [name, query, index] of cases) {
    const { text, values } = pageQuery(parseAuditQuery(query, 20_000));
    const plan = (await withClient(opened.store.pool, (client) => client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${text}`, values))).rows.map((r) => r['QUERY PLAN']).join('\n');
    t.notMatch(plan, /Seq Scan on audit_events/, `${name}: no sequential scan`);
    t.match(plan, index ?? /Index Scan|Bitmap Index Scan/, `${name}: ${index ?? 'an index'}\n${plan}`);
  }
  t.equal((await opened.trail.query({ user: 'rare@contoso.example', top: 1000 })).events.length, 10, 'the rare user: 10 events');
  const page = await opened.trail.query({ user: 'user7@contoso.example', top: 5 });
  t.same(page.events.map((e) => e.seq), [19958, 19908, 19858, 19808, 19758], 'and it answers what the filter asks');
});

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

/** A data directory holding only the tests' master key, for `audit verify --database`. */
async function keyDir(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'master.key'), testMasterKey.toString('base64') + '\n', { mode: 0o600 });
  return dir;
}
