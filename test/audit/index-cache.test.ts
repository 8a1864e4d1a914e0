/**
 * The audit index cache (issue 14: start with 100,000 events under a second): a clean stop leaves the
 * trail's query index beside it, and the next start goes on from it instead of parsing every line, but
 * only while it vouches for exactly the bytes the trail holds. A lost, stale, altered or outdated cache
 * is rebuilt from the trail, and a trail cut or edited is refused as it was without a cache.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { auditLogPath, openAuditLog, type AuditLog } from '../../daemon/audit/audit-log.js';
import { unkeyedHashEvent, verifyAuditLog, type Checkpoint } from '../../daemon/audit/chain.js';
import type { AuditQuery } from '../../daemon/audit/event-index.js';
import { indexCachePath } from '../../daemon/audit/index-cache.js';
import { closeAuditLog } from '../../daemon/audit/trail.js';
import { openDaemon } from '../../daemon/daemon.js';
import { createLogger } from '../../daemon/logging.js';
import { alice, bob, change, notFound, pc1, pc2, scriptKey, secretRead, testKey } from './sample-events.js';
import { tempDir, type TestContext } from '../helpers.js';

const QUERIES: AuditQuery[] = [
  {},
  { top: 3 },
  { user: 'bob@contoso.example' },
  { device: 'pc-002' },
  { device: 'PC-404' },
  { outcome: 'failure' },
  { type: 'tenant.created' },
  { accessType: 'LocalAdminPasswordHistory' },
  { user: 'nightly script', top: 1000 },
];

/** What the queries answer: the same with and without the cache, or the cache changed something. */
const answers = async (log: AuditLog) => Promise.all(QUERIES.map(async (query) => (await log.query(query)).events.map((event) => event.seq)));

/** Opens the trail as start does: from the checkpoint, with the index cache. */
const openAtStart = (file: string, checkpoint: Checkpoint) => openAuditLog(file, { key: testKey, checkpoint, fromCheckpoint: true, indexCache: indexCachePath(file) });

async function append(log: AuditLog, events: number) {
  const actors = [alice, bob, scriptKey];
  const devices = [pc1, pc2, notFound];
  for (let i = 0; i < events; i++) {
    if (i % 7 === 3) await log.append(change(alice, 'tenant.created', undefined, { displayName: `Tenant ${i}` }));
    else await log.append(secretRead(actors[i % 3]!, devices[i % 4 === 0 ? 2 : i % 2]!, i % 5 === 0 ? 'ExplicitlyDenied' : 'Success', i % 2 ? 'LocalAdminPassword' : 'LocalAdminPasswordHistory'));
  }
}

/** A trail with `events` events, stopped cleanly: its cache written, its head as the checkpoint. */
async function stoppedTrail(t: TestContext, events: number): Promise<{ file: string; head: Checkpoint }> {
  const file = auditLogPath(join(await tempDir(t), 'data'));
  const { log } = await openAuditLog(file, { key: testKey });
  await append(log, events);
  const head = log.head;
  await closeAuditLog(log, (error) => t.fail(`the cache could not be written: ${String(error)}`));
  return { file, head };
}

/** The answers of a start that reads the whole trail (no cache), for comparison. */
async function answersWithoutCache(file: string, checkpoint: Checkpoint) {
  const { log } = await openAuditLog(file, { key: testKey, checkpoint, fromCheckpoint: true });
  try {
    return { head: log.head, answers: await answers(log) };
  } finally {
    await log.close();
  }
}

t.test('a clean stop leaves the cache; the next start goes on from it and answers as a start that read the whole trail', async (t) => {
  const { file, head } = await stoppedTrail(t, 40);
  t.ok(existsSync(indexCachePath(file)), 'the cache is beside the trail');
  const expected = await answersWithoutCache(file, head);

  const opened = await openAtStart(file, head);
  t.teardown(() => opened.log.close());
  t.equal(opened.indexCache, 'used');
  t.same(opened.log.head, head, 'the same head');
  t.same(await answers(opened.log), expected.answers, 'the same answer to every query');
  t.equal((await opened.log.append(secretRead(bob, pc1))).seq, 41, 'appends go on');
  t.same((await opened.log.query({ top: 2 })).events.map((e) => e.seq), [41, 40]);
});

t.test('a lost cache is rebuilt: start reads the whole trail, and the next clean stop writes it again', async (t) => {
  const { file, head } = await stoppedTrail(t, 12);
  await rm(indexCachePath(file));
  const opened = await openAtStart(file, head);
  t.equal(opened.indexCache, 'there is none');
  t.same(opened.log.head, head);
  await closeAuditLog(opened.log, (error) => t.fail(String(error)));
  t.ok(existsSync(indexCachePath(file)), 'written again at the stop');
  const again = await openAtStart(file, head);
  t.teardown(() => again.log.close());
  t.equal(again.indexCache, 'used');
});

t.test('a stale cache (events written after it, as after a crash) serves what it covers; the rest is read from the trail', async (t) => {
  const { file, head } = await stoppedTrail(t, 20);
  const older = `${indexCachePath(file)}.older`;
  await copyFile(indexCachePath(file), older);
  const second = await openAtStart(file, head);
  await append(second.log, 9);
  const newHead = second.log.head;
  await closeAuditLog(second.log, (error) => t.fail(String(error)));
  await copyFile(older, indexCachePath(file)); // as if the last stop had not written its cache

  const expected = await answersWithoutCache(file, newHead);
  const opened = await openAtStart(file, newHead);
  t.teardown(() => opened.log.close());
  t.equal(opened.indexCache, 'used', 'the trail only grew since: the cache still matches its start');
  t.same(opened.log.head, newHead);
  t.same(await answers(opened.log), expected.answers);
});

t.test('a checkpoint behind the cache: start re-checks from the checkpoint on, as without a cache', async (t) => {
  const { file } = await stoppedTrail(t, 10);
  const third = JSON.parse((await readFile(file, 'utf8')).split('\n')[2]!) as { seq: number; hash: string };
  const checkpoint = { seq: third.seq, hash: third.hash }; // as after a crash before the next checkpoint
  const expected = await answersWithoutCache(file, checkpoint);
  const opened = await openAtStart(file, checkpoint);
  t.teardown(() => opened.log.close());
  t.equal(opened.indexCache, 'used');
  t.same(opened.log.head, expected.head);
  t.same(await answers(opened.log), expected.answers);
});

t.test('a cache that does not match the trail is not used: the trail pruned since, or the cache altered', async (t) => {
  const pruned = await stoppedTrail(t, 20);
  const older = `${indexCachePath(pruned.file)}.older`;
  await copyFile(indexCachePath(pruned.file), older);
  const session = await openAtStart(pruned.file, pruned.head);
  t.same(await session.log.prune({ keepLast: 5 }), { removed: 15 });
  const head = session.log.head;
  await closeAuditLog(session.log, (error) => t.fail(String(error)));
  await copyFile(older, indexCachePath(pruned.file));
  const afterPruning = await openAtStart(pruned.file, head);
  t.match(afterPruning.indexCache, /the trail changed since it was written/);
  t.same(afterPruning.log.head, head, 'read from the trail instead');
  await afterPruning.log.close();

  const altered = await stoppedTrail(t, 5);
  const bytes = await readFile(indexCachePath(altered.file));
  bytes[bytes.length - 40] = bytes[bytes.length - 40]! ^ 1; // a bit of the columns
  await writeFile(indexCachePath(altered.file), bytes);
  const opened = await openAtStart(altered.file, altered.head);
  t.teardown(() => opened.log.close());
  t.match(opened.indexCache, /its MAC does not hold/);
  t.same(opened.log.head, altered.head);
});

t.test('a pruned trail: its cache is used after a restart, and the pruning is still accounted for', async (t) => {
  const { file, head } = await stoppedTrail(t, 10);
  const session = await openAtStart(file, head);
  await session.log.prune({ keepLast: 4 });
  const pruned = session.log.head;
  await closeAuditLog(session.log, (error) => t.fail(String(error)));
  const opened = await openAtStart(file, pruned);
  t.teardown(() => opened.log.close());
  t.equal(opened.indexCache, 'used');
  t.same(opened.log.head, pruned);
  t.match(await verifyAuditLog(file, testKey), { ok: true, firstSeq: 7, events: 11 });
});

t.test('with a cache present, a trail cut, or forged after it, is refused at start as without one', async (t) => {
  const refusalOf = (file: string, checkpoint: Checkpoint, indexCache: boolean) =>
    openAuditLog(file, { key: testKey, checkpoint, fromCheckpoint: true, ...(indexCache ? { indexCache: indexCachePath(file) } : {}) }).then(
      async (opened) => {
        await opened.log.close();
        return undefined;
      },
      (error: Error) => error.message,
    );

  const cut = await stoppedTrail(t, 10);
  const text = await readFile(cut.file, 'utf8');
  await writeFile(cut.file, text.split('\n').slice(0, 8).join('\n') + '\n');
  const cutRefusal = await refusalOf(cut.file, cut.head, true);
  t.match(cutRefusal, /broken at line 9: cut at its end — the trail ends at seq 8/);
  t.equal(cutRefusal, await refusalOf(cut.file, cut.head, false), 'the same refusal as without the cache');

  const forged = await stoppedTrail(t, 10);
  const last = JSON.parse((await readFile(forged.file, 'utf8')).split('\n').at(-2)!) as Record<string, unknown>;
  const next: Record<string, unknown> = { ...last, seq: 11, id: 'd6c1f4a0-5b3e-4f43-9a55-1f6e1f1b2c3d', prevHash: last.hash };
  next.hash = unkeyedHashEvent(next);
  await writeFile(forged.file, (await readFile(forged.file, 'utf8')) + JSON.stringify(next) + '\n');
  const forgedRefusal = await refusalOf(forged.file, forged.head, true);
  t.match(forgedRefusal, /broken at line 11 \(seq 11\): the hash is plain SHA-256, not keyed/, 'the cache still matched the start of the trail; the line after it is checked');
  t.equal(forgedRefusal, await refusalOf(forged.file, forged.head, false), 'the same refusal as without the cache');
});

t.test('the daemon writes the cache when it stops and goes on from it when it starts', async (t) => {
  const dataDir = join(await tempDir(t), 'data');
  const logLines: string[] = [];
  const logger = () =>
    createLogger(
      'debug',
      new Writable({
        write(chunk, _encoding, done) {
          logLines.push(...String(chunk).split('\n').filter(Boolean));
          done();
        },
      }),
    );
  const first = await openDaemon({ dataDir, logger: logger() });
  for (const actor of [alice, bob, scriptKey]) await first.audit.append(secretRead(actor, pc1));
  await first.app.close();
  t.ok(existsSync(join(dataDir, 'audit', 'audit.index')), 'a clean stop writes the cache');
  const second = await openDaemon({ dataDir, logger: logger() });
  t.teardown(() => second.app.close());
  const opened = logLines.map((line) => JSON.parse(line) as { msg: string; indexCache?: string }).filter((entry) => entry.msg === 'audit trail opened');
  t.same(opened.map((entry) => entry.indexCache), ['there is none', 'used'], 'the next start goes on from it');
  t.equal(second.audit.head.seq, 3);
});
