/**
 * The audit log: an append resolves only once its line is on disk, appends in flight share one fsync,
 * a failed write leaves nothing behind and the next append works, and the chain survives restarts.
 */
import t from 'tap';
import { statSync } from 'node:fs';
import { readFile, stat, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { AuditLogError, AuditWriteError, auditLogPath, openAuditLog, type AuditFileIo } from '../../daemon/audit/audit-log.js';
import { GENESIS_HASH, verifyAuditLog } from '../../daemon/audit/chain.js';
import { eventIdOf, type AuditEventInput } from '../../daemon/audit/events.js';
import { alice, bob, change, notFound, pc1, pc2, scriptKey, secretRead, testKey } from './sample-events.js';
import { tempDir, type TestContext } from '../helpers.js';

async function newLog(t: TestContext, io: Partial<AuditFileIo> = {}) {
  const file = auditLogPath(join(await tempDir(t), 'data'));
  const { log, warning } = await openAuditLog(file, { key: testKey, io });
  t.teardown(() => log.close());
  return { file, log, warning };
}

const lines = async (file: string) => (await readFile(file, 'utf8')).split('\n').slice(0, -1).map((line) => JSON.parse(line));

t.test('an event is on disk, chained and complete when append resolves', async (t) => {
  const { file, log, warning } = await newLog(t);
  t.equal(warning, undefined);
  t.equal((await stat(file)).mode & 0o777, 0o600, 'readable by its owner only');
  const input = secretRead(bob, pc1, 'Success', 'LocalAdminPasswordHistory');
  const event = await log.append(input);
  t.match(event, { ...input, seq: 1, eventId: 3002, prevHash: GENESIS_HASH });
  t.match(event.id, /^[0-9a-f-]{36}$/);
  t.ok(Math.abs(Date.parse(event.time) - Date.now()) < 60_000, 'stamped with the current time');
  t.same(await lines(file), [event], 'the line is the event as returned');
  t.same(log.head, { seq: 1, hash: event.hash });
});

t.test('the chain continues across close and re-open', async (t) => {
  const { file, log } = await newLog(t);
  const first = [await log.append(secretRead(alice, pc1)), await log.append(change(alice, 'tenant.created', undefined, { displayName: 'Contoso' }))];
  await log.close();
  await t.rejects(log.append(secretRead(alice, pc1)), AuditWriteError, 'a closed log refuses appends');

  const reopened = await openAuditLog(file, { key: testKey });
  t.teardown(() => reopened.log.close());
  t.equal(reopened.warning, undefined);
  t.same(reopened.log.head, { seq: 2, hash: first[1]!.hash });
  const third = await reopened.log.append(secretRead(bob, notFound, 'DeviceNotFound'));
  t.equal(third.seq, 3);
  t.equal(third.prevHash, first[1]!.hash);
  t.same(await verifyAuditLog(file, testKey), { ok: true, events: 3, firstSeq: 1, lastHash: third.hash, lastTime: third.time, keyedFrom: 1 });
});

t.test('close waits for the appends already made', async (t) => {
  const { file, log } = await newLog(t);
  const appends = Array.from({ length: 10 }, () => log.append(secretRead(scriptKey, pc2)));
  await log.close();
  t.equal((await Promise.all(appends)).length, 10);
  t.equal((await lines(file)).length, 10);
});

t.test('appends arriving during a write share the next write and fsync (group commit)', async (t) => {
  let syncs = 0;
  let writes = 0;
  let releaseFirstSync: () => void = () => undefined;
  const firstSyncHeld = new Promise<void>((resolve) => (releaseFirstSync = resolve));
  let firstSyncReached: () => void = () => undefined;
  const firstSyncStarted = new Promise<void>((resolve) => (firstSyncReached = resolve));
  const { file, log } = await newLog(t, {
    write: async (handle, data, position) => {
      writes++;
      return (await handle.write(data, 0, data.length, position)).bytesWritten;
    },
    sync: async (handle) => {
      if (++syncs === 1) {
        firstSyncReached();
        await firstSyncHeld;
      }
      await handle.datasync();
    },
  });

  const settled: number[] = [];
  const first = log.append(secretRead(alice, pc1)).then((e) => (settled.push(e.seq), e));
  await firstSyncStarted; // the first write is now waiting on its fsync
  t.equal(syncs, 1);
  const during = Array.from({ length: 5 }, (_, i) => log.append(secretRead(bob, i % 2 ? pc1 : pc2)).then((e) => (settled.push(e.seq), e)));
  // Give the five appends every chance to be written early: a turn of the event loop runs all that is
  // ready, and nothing they wait on but the held fsync is outstanding.
  await new Promise((resolve) => setImmediate(resolve));
  t.same(settled, [], 'nothing resolves before its fsync');
  t.equal(writes, 1, 'the five wait for the write in progress, not beside it');
  releaseFirstSync();
  await Promise.all([first, ...during]);
  t.same(settled, [1, 2, 3, 4, 5, 6], 'resolved in order');
  t.equal(writes, 2, 'the five that waited went in one write');
  t.equal(syncs, 2, 'and one fsync');

  const many = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append(secretRead(i % 2 ? alice : bob, pc1))));
  t.same(many.map((e) => e.seq), Array.from({ length: 200 }, (_, i) => i + 7), 'every append got its own seq, in call order');
  t.ok(syncs <= 4, `200 concurrent appends took ${syncs - 2} fsyncs: one for the first, one for all that queued behind it`);
  t.match(await verifyAuditLog(file, testKey), { ok: true, events: 206 });
});

/** File operations that fail on demand; a failing write first writes half its bytes, as a full disk does. */
function faultyIo() {
  const faults = { write: false, sync: false, truncate: false };
  const fail = (code: string) => Object.assign(new Error(`${code}: simulated`), { code });
  const io: Partial<AuditFileIo> = {
    async write(handle: FileHandle, data: Buffer, position: number) {
      if (!faults.write) return (await handle.write(data, 0, data.length, position)).bytesWritten;
      await handle.write(data, 0, Math.floor(data.length / 2), position);
      throw fail('ENOSPC');
    },
    async sync(handle: FileHandle) {
      if (faults.sync) throw fail('EIO');
      await handle.datasync();
    },
    async truncate(handle: FileHandle, length: number) {
      if (faults.truncate) throw fail('EIO');
      await handle.truncate(length);
    },
  };
  return { faults, io };
}

t.test('a failed write rejects its whole batch, leaves no partial line, and the next append works', async (t) => {
  const { faults, io } = faultyIo();
  const { file, log } = await newLog(t, io);
  await log.append(secretRead(alice, pc1));
  await log.append(secretRead(alice, pc2));
  const before = await readFile(file);

  faults.write = true;
  const batch = await Promise.allSettled(Array.from({ length: 3 }, () => log.append(secretRead(bob, pc1))));
  t.same(batch.map((r) => r.status), ['rejected', 'rejected', 'rejected'], 'every append of the batch rejects');
  const reason = (batch[0] as PromiseRejectedResult).reason;
  t.type(reason, AuditWriteError);
  t.match(reason.message, /cannot be written \(ENOSPC: simulated\); the event was not recorded/);
  t.match(reason.cause, { code: 'ENOSPC' });
  t.same(await readFile(file), before, 'the half-written lines were cut off');
  t.equal(log.head.seq, 2, 'the chain did not advance');

  faults.write = false;
  const next = await log.append(secretRead(bob, pc2));
  t.equal(next.seq, 3, 'the next append takes the seq the failed batch did not get');
  t.match(await verifyAuditLog(file, testKey), { ok: true, events: 3 });
});

t.test('a failed fsync rejects too, and the written line is taken back', async (t) => {
  const { faults, io } = faultyIo();
  const { file, log } = await newLog(t, io);
  await log.append(secretRead(alice, pc1));
  const size = (await stat(file)).size;

  faults.sync = true;
  await t.rejects(log.append(secretRead(bob, pc1)), { name: 'AuditWriteError', message: /EIO/ });
  faults.sync = false;
  t.equal((await stat(file)).size, size, 'truncated back: a line whose fsync failed may or may not be on disk');

  t.equal((await log.append(secretRead(bob, pc2))).seq, 2);
  t.match(await verifyAuditLog(file, testKey), { ok: true, events: 2 });
});

t.test('while the file cannot even be truncated, appends are refused; once it can, they work again', async (t) => {
  const { faults, io } = faultyIo();
  const { file, log } = await newLog(t, io);
  await log.append(change(alice, 'apiKey.created', undefined, { name: 'k' }));
  const good = await readFile(file);

  faults.write = true;
  faults.truncate = true;
  await t.rejects(log.append(secretRead(bob, pc1)), AuditWriteError);
  const withGarbage = await readFile(file);
  t.ok(withGarbage.length > good.length, 'the half-written line is still there: truncating failed');
  faults.write = false;
  await t.rejects(log.append(secretRead(bob, pc1)), AuditWriteError, 'refused while the garbage cannot be removed, even though writing would work');
  t.same(await readFile(file), withGarbage, 'and nothing was written after the garbage');

  faults.truncate = false;
  const next = await log.append(secretRead(bob, pc2));
  t.equal(next.seq, 2);
  t.same((await readFile(file)).subarray(0, good.length), good);
  t.match(await verifyAuditLog(file, testKey), { ok: true, events: 2 });
});

t.test('a crash after a partial write: the next open moves the unfinished line to an evidence file and says so', async (t) => {
  const { file, log } = await newLog(t);
  await log.append(secretRead(alice, pc1));
  const second = await log.append(secretRead(alice, pc2));
  await log.close();
  const good = await readFile(file);
  const partial = JSON.stringify(second).slice(0, 57);
  await appendFile(file, partial);

  const reopened = await openAuditLog(file, { key: testKey, checkpoint: { seq: 2, hash: second.hash } });
  t.teardown(() => reopened.log.close());
  t.match(reopened.warning, /ended in an unfinished write \(line 3, 57 bytes without a newline\), after the last checkpointed event \(seq 2\).*never acknowledged\. It was moved to /);
  t.match(reopened.evidenceFile, new RegExp(`^${file}\\.[0-9TZ-]+\\.unfinished$`), 'next to the trail');
  t.equal(await readFile(reopened.evidenceFile!, 'utf8'), partial, 'the evidence holds exactly the unfinished bytes');
  t.match(reopened.warning, reopened.evidenceFile!, 'and the warning names it');
  t.same(await readFile(file), good, 'the file is back to its last complete line');
  const third = await reopened.log.append(secretRead(bob, pc1));
  t.same([third.seq, third.prevHash], [3, second.hash]);
  t.match(await verifyAuditLog(file, testKey), { ok: true, events: 3 });
});

t.test('even a complete event without its newline is cut: it was never acknowledged', async (t) => {
  const { file, log } = await newLog(t);
  await log.append(secretRead(alice, pc1));
  await log.close();
  const content = await readFile(file, 'utf8');
  await writeFile(file, content.slice(0, -1));
  const reopened = await openAuditLog(file, { key: testKey });
  t.teardown(() => reopened.log.close());
  t.match(reopened.warning, /line 1/);
  t.equal(reopened.log.head.seq, 0);
  t.equal(await readFile(file, 'utf8'), '');
  t.equal(await readFile(reopened.evidenceFile!, 'utf8'), content.slice(0, -1), 'kept as evidence');
});

t.test('an unfinished line at or before the checkpoint was acknowledged: a cut, refused, the file left as it is', async (t) => {
  const { file, log } = await newLog(t);
  await log.append(secretRead(alice, pc1));
  const second = await log.append(secretRead(alice, pc2));
  await log.close();
  const cut = (await readFile(file, 'utf8')).slice(0, -20);
  await writeFile(file, cut);
  const error = await openAuditLog(file, { key: testKey, checkpoint: { seq: 2, hash: second.hash, time: '2026-12-01T10:00:00.000Z' } }).then(() => undefined, (e: unknown) => e);
  t.type(error, AuditLogError);
  t.match((error as AuditLogError).broken, { reason: 'cut-at-end', line: 2 });
  t.match(
    (error as Error).message,
    `The audit trail ${file} is broken at line 2: cut at its end — the trail ends at seq 1 (line 2 is incomplete, yet it was acknowledged), but the checkpoint in amsd.json at 2026-12-01T10:00:00.000Z says seq 2 was written`,
  );
  t.equal(await readFile(file, 'utf8'), cut, 'not changed');
});

t.test('complete lines cut from the end back past the checkpoint, or another trail in its place: refused', async (t) => {
  const { file, log } = await newLog(t);
  for (let i = 0; i < 4; i++) await log.append(secretRead(alice, pc1));
  const checkpoint = log.head;
  await log.close();
  const full = await readFile(file, 'utf8');
  await writeFile(file, full.split('\n').slice(0, 2).join('\n') + '\n');
  const refusal = (checkpoint: { seq: number; hash: string }) => openAuditLog(file, { key: testKey, checkpoint }).then(() => undefined, (e: unknown) => e);
  t.match(await refusal(checkpoint), { name: 'AuditLogError', broken: { reason: 'cut-at-end', detail: /events 3 to 4 are missing/ } });
  await writeFile(file, full);
  t.match(await refusal({ seq: 4, hash: 'f'.repeat(64) }), { name: 'AuditLogError', broken: { reason: 'checkpoint-mismatch', seq: 4, detail: /not the one amsd.json checkpointed/ } });
  const { log: reopened } = await openAuditLog(file, { key: testKey, checkpoint });
  t.equal(reopened.head.seq, 4, 'the trail that reaches its checkpoint opens');
  await reopened.close();
});

t.test('a chain broken in the middle refuses the open and is left as it is', async (t) => {
  const { file, log } = await newLog(t);
  for (let i = 0; i < 3; i++) await log.append(secretRead(alice, pc1));
  await log.close();
  const content = (await readFile(file, 'utf8')).replace('"PC-001"', '"PC-999"');
  await writeFile(file, content);
  const error = await openAuditLog(file, { key: testKey }).then(() => undefined, (e: unknown) => e);
  t.type(error, AuditLogError);
  t.match((error as AuditLogError).broken, { line: 1, seq: 1, reason: 'hash-mismatch' });
  t.match((error as Error).message, `The audit trail ${file} is broken at line 1 (seq 1): hash mismatch`);
  t.match((error as Error).message, /amsd audit reset --data-dir .* --confirm` archives it and starts a new trail/);
  t.equal(await readFile(file, 'utf8'), content, 'not changed');
});

t.test('events that are not valid are refused without touching the trail', async (t) => {
  const { file, log } = await newLog(t);
  await log.append(secretRead(alice, pc1));
  const contradiction = { ...secretRead(bob, pc1, 'ExplicitlyDenied'), outcome: { success: true, code: 'ExplicitlyDenied' as const } };
  await t.rejects(log.append(contradiction), { name: 'TypeError', message: /code ExplicitlyDenied cannot have success: true/ });
  await t.rejects(log.append({ ...change(alice, 'rule.updated'), type: 'rule.renamed' } as unknown as AuditEventInput), /Unknown audit event type "rule.renamed"/);
  await t.rejects(log.append(change(alice, 'rule.updated', undefined, { count: 1n })), TypeError, 'a BigInt cannot be stored as JSON');
  t.equal((await log.append(secretRead(alice, pc2))).seq, 2, 'the log goes on');
  t.match(await verifyAuditLog(file, testKey), { ok: true, events: 2 });
});

t.test('before/after are stored as JSON data: dates become strings, undefined values vanish, and the hash still holds', async (t) => {
  const { file, log } = await newLog(t);
  const event = await log.append(change(alice, 'rule.updated', { expires: new Date('2030-01-01T00:00:00Z'), notes: undefined }, { expires: null }));
  t.same((event as { before?: unknown }).before, { expires: '2030-01-01T00:00:00.000Z' });
  t.same((await lines(file))[0], event);
  t.match(await verifyAuditLog(file, testKey), { ok: true, events: 1 });
});

t.test('event ids in the Access Manager style', async (t) => {
  const cases: [string, AuditEventInput, number][] = [
    ['LAPS password granted', secretRead(alice, pc1, 'Success', 'LocalAdminPassword'), 3001],
    ['LAPS history granted', secretRead(alice, pc1, 'Success', 'LocalAdminPasswordHistory'), 3002],
    ['BitLocker key granted', secretRead(alice, pc1, 'Success', 'BitLockerRecoveryKey'), 3004],
    ['no rule for the user', secretRead(bob, pc1, 'NoMatchingRuleForUser'), 4012],
    ['no rule for the computer', secretRead(bob, pc1, 'NoMatchingRuleForComputer'), 4013],
    ['explicitly denied', secretRead(bob, pc1, 'ExplicitlyDenied', 'BitLockerRecoveryKey'), 4015],
    ['audit unavailable', secretRead(bob, pc1, 'AuditUnavailable'), 4016],
    ['IP rate limit', secretRead(bob, pc1, 'IpRateLimitExceeded'), 4017],
    ['user rate limit', secretRead(bob, pc1, 'UserRateLimitExceeded'), 4018],
    ['device not found', secretRead(bob, notFound, 'DeviceNotFound'), 4031],
    ['reason required', secretRead(bob, pc1, 'ReasonRequired'), 4035],
    ['rule created', change(alice, 'rule.created'), 2101],
    ['rule deleted', change(alice, 'rule.deleted'), 2102],
    ['rule updated', change(alice, 'rule.updated'), 2103],
    ['tenant created', change(alice, 'tenant.created'), 2111],
    ['API key revoked', change(alice, 'apiKey.revoked'), 2122],
    ['settings updated', change(alice, 'settings.updated'), 2133],
  ];
  for (const [name, input, eventId] of cases) t.equal(eventIdOf(input), eventId, name);
});

t.test('an event is stored as its JSON form, and as it was when appended', async (t) => {
  const { log, file } = await newLog(t);
  const plainAfter = { displayName: 'Contoso', nested: { list: [1, 'two', null, undefined], flag: true }, gone: undefined };
  const unusual = { displayName: 'Adatum', at: new Date('2026-12-01T10:00:00Z'), ratio: Number.NaN, list: [undefined] };
  const appended = [
    await log.append(change(alice, 'tenant.created', undefined, plainAfter)),
    await log.append(change(alice, 'tenant.updated', undefined, unusual)),
  ];
  plainAfter.nested.list.push(5); // a caller changing its object afterwards changes nothing on record
  const stored = (await readFile(file, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { after: unknown });
  t.same(stored[0]!.after, { displayName: 'Contoso', nested: { list: [1, 'two', null, null], flag: true } }, 'undefined left out, or null in an array');
  t.same(stored[1]!.after, { displayName: 'Adatum', at: '2026-12-01T10:00:00.000Z', ratio: null, list: [null] }, 'a Date as its ISO string, NaN as null');
  t.same(appended.map((e) => (e as { after?: unknown }).after), stored.map((e) => e.after), 'the events appended are the events stored');
  t.ok((await verifyAuditLog(file, testKey)).ok, 'and each hash is over that form');
});

t.test('appends made in one turn of the event loop share one batch and one fdatasync, written after the turn', async (t) => {
  let syncs = 0;
  const { log, file } = await newLog(t, { sync: async (handle: FileHandle) => void (syncs++, await handle.datasync()) });
  const before = statSync(file).size;
  const appended = [log.append(secretRead(alice, pc1)), log.append(secretRead(bob, pc2)), log.append(change(alice, 'tenant.created', undefined, { displayName: 'Contoso' }))];
  t.equal(statSync(file).size, before, 'nothing is written inside append(): what the caller starts next goes first');
  const events = await Promise.all(appended);
  t.same(events.map((e) => e.seq), [1, 2, 3], 'in the order appended');
  t.equal(syncs, 1, 'one fdatasync for the three');
});

t.test('events of one batch with text of every width are found again where they were written', async (t) => {
  const { file, log } = await newLog(t);
  const names = ['Zürich-Büro', 'ＰＣ－東京', 'plain', 'PC-🔑-42', 'Ελλάδα'];
  const appended = await Promise.all(names.map((displayName) => log.append(change(alice, 'tenant.created', undefined, { displayName }))));
  const page = await log.query({ top: 10 });
  t.same(page.events.map((e) => (e as { after?: { displayName?: string } }).after?.displayName).reverse(), names, 'each read back from its offset, newest first');
  t.same(page.events.reverse(), appended);
  await log.close();
  const reopened = await openAuditLog(file, { key: testKey });
  t.teardown(() => reopened.log.close());
  t.same((await reopened.log.query({ top: 10 })).events.reverse(), appended, 'and after a re-open');
  t.ok((await verifyAuditLog(file, testKey)).ok);
});
