/**
 * Retention: pruning removes the oldest events and the trail still verifies, because a chained
 * audit.pruned event accounts for the cut; a head removed without one is caught.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { AuditLogError, auditLogPath, openAuditLog } from '../../daemon/audit/audit-log.js';
import { verifyAuditLog } from '../../daemon/audit/chain.js';
import { alice, bindTestTrail, pc1, secretRead, testKey } from './sample-events.js';
import { tempDir, type TestContext } from '../helpers.js';

async function logWith(t: TestContext, events: number) {
  const file = auditLogPath(join(await tempDir(t), 'data'));
  const { log } = await openAuditLog(file, { key: testKey });
  t.teardown(() => log.close());
  const appended = [];
  for (let i = 0; i < events; i++) appended.push(await log.append(secretRead(alice, pc1)));
  return { file, log, appended };
}

const seqsIn = async (file: string) => (await readFile(file, 'utf8')).split('\n').slice(0, -1).map((line) => JSON.parse(line).seq as number);

t.test('keepLast prunes the oldest events; the trail verifies and goes on across a restart', async (t) => {
  const { file, log, appended } = await logWith(t, 10);
  t.same(await log.prune({ keepLast: 4 }), { removed: 6 });
  t.same(await seqsIn(file), [7, 8, 9, 10, 11], 'events 7-10 kept, then the audit.pruned event');
  const pruned = (await log.query({ type: 'audit.pruned' })).events[0]!;
  t.match(pruned, { seq: 11, eventId: 2151, actor: { kind: 'system' }, pruned: { throughSeq: 6, lastHash: appended[5]!.hash, events: 6, keepLast: 4 } });
  t.match(await verifyAuditLog(file, testKey), { ok: true, firstSeq: 7, events: 11 });
  t.same((await log.query({})).events.map((e) => e.seq), [11, 10, 9, 8, 7], 'queries see what is left');

  const next = await log.append(secretRead(alice, pc1));
  t.equal(next.seq, 12, 'appends go on');
  await log.close();
  const { log: reopened } = await openAuditLog(file, { key: testKey });
  t.teardown(() => reopened.close());
  t.equal((await reopened.append(secretRead(alice, pc1))).seq, 13, 'and go on after a restart');
  t.match(await verifyAuditLog(file, testKey), { ok: true, firstSeq: 7, events: 13 });

  t.same(await reopened.prune({ keepLast: 2 }), { removed: 5 }, 'pruning again');
  t.match(await verifyAuditLog(file, testKey), { ok: true, firstSeq: 12, events: 14 }, 'the newest audit.pruned event accounts for the new cut');
  t.same(await reopened.prune({ keepLast: 100 }), { removed: 0 }, 'nothing to do: no event, no rewrite');
});

t.test('olderThan keeps what is newer; the newest event always stays', async (t) => {
  const { file, log } = await logWith(t, 3);
  t.same(await log.prune({ olderThan: new Date(Date.now() + 60_000) }), { removed: 2 });
  t.same(await seqsIn(file), [3, 4]);
  t.match(await verifyAuditLog(file, testKey), { ok: true, firstSeq: 3 });
});

t.test('a head removed without an audit.pruned event is a broken trail', async (t) => {
  const { file, log } = await logWith(t, 5);
  await log.close();
  const text = await readFile(file, 'utf8');
  await writeFile(file, text.split('\n').slice(2).join('\n'));
  const result = await verifyAuditLog(file, testKey);
  t.match(result, { ok: false, firstBroken: { line: 1, seq: 3, detail: /starts at seq 3, and no audit.pruned event accounts for events 1 to 2/ } });
  await t.rejects(openAuditLog(file, { key: testKey }), AuditLogError, 'the daemon will not write on after it');
});

t.test('amsd audit verify says where a pruned trail starts', async (t) => {
  const { file, log } = await logWith(t, 4);
  await log.prune({ keepLast: 2 });
  await bindTestTrail(join(file, '..', '..'), log.head);
  await log.close();
  const { runAuditVerify } = await import('../../daemon/audit/verify-command.js');
  let out = '';
  const sink = { write: (chunk: string) => ((out += chunk), true) } as unknown as NodeJS.WritableStream;
  t.equal(await runAuditVerify(join(file, '..', '..'), sink), 0);
  t.match(out, /audit trail OK: events 3 to 5, keyed chain intact \(events before 3 were removed by retention/);
});
