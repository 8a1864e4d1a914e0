/**
 * The trail a data directory belongs to (issue 11, item 14): amsd refuses at start a trail that is
 * missing, emptied, cut at its start or end, or recomputed without the master key, with a message
 * naming the problem and the file; an unfinished last line is moved aside as evidence; a new trail
 * is the explicit, audited `amsd audit reset`; a trail from before keyed chains is keyed by
 * `amsd audit rekey`. The last test runs the compiled CLI (`npm run build` first).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { auditLogPath } from '../../daemon/audit/audit-log.js';
import { GENESIS_HASH, unkeyedHashEvent, verifyAuditLog } from '../../daemon/audit/chain.js';
import { runAuditRekey, runAuditReset } from '../../daemon/audit/trail-commands.js';
import { trailRecord } from '../../daemon/audit/trail.js';
import { runAuditVerify } from '../../daemon/audit/verify-command.js';
import { openDaemon, type Daemon, type DaemonOptions } from '../../daemon/daemon.js';
import { createLogger } from '../../daemon/logging.js';
import { packageRoot } from '../../openapi/package-root.js';
import { readState } from '../../daemon/store/state-files.js';
import { loadMasterKey } from '../../daemon/store/sealing.js';
import { tempDir, type TestContext } from '../helpers.js';
import { forgedPruning } from './sample-events.js';

interface Started {
  daemon: Daemon;
  logLines: string[];
  /** Creates an API key: one apiKey.created event. */
  createKey(name: string): Promise<void>;
  stop(): Promise<void>;
}

async function start(dataDir: string, options: Partial<DaemonOptions> = {}): Promise<Started> {
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const daemon = await openDaemon({ dataDir, logger: createLogger('info', sink), ...options });
  await daemon.app.ready();
  const adminKey = (await readFile(join(dataDir, 'bootstrap-admin.key'), 'utf8')).trim();
  let stopped = false;
  return {
    daemon,
    logLines,
    async createKey(name) {
      const response = await daemon.app.inject({ method: 'POST', url: '/v1/api-keys', headers: { authorization: `Bearer ${adminKey}` }, payload: { name, role: 'user' } });
      if (response.statusCode !== 201) throw new Error(`creating a key answered ${response.statusCode}: ${response.body}`);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await daemon.app.close();
    },
  };
}

/** A data directory served once: `events` API keys created, then a clean stop (which checkpoints the head). */
async function servedDataDir(t: TestContext, events: number): Promise<{ dataDir: string; file: string; stateFile: string }> {
  const dataDir = join(await tempDir(t), 'data');
  const first = await start(dataDir);
  for (let i = 0; i < events; i++) await first.createKey(`key ${i}`);
  await first.stop();
  return { dataDir, file: auditLogPath(dataDir), stateFile: join(dataDir, 'amsd.json') };
}

const refusalOf = (dataDir: string) =>
  openDaemon({ dataDir, logger: createLogger('silent') }).then(
    async (daemon) => {
      await daemon.app.close();
      return undefined;
    },
    (error: unknown) => error as Error,
  );

/** The state as the daemon has it: amsd.json with its change journal applied (any-typed: tests tamper with it). */
const stateOf = async (stateFile: string): Promise<any> => readState(stateFile);
const linesOf = async (file: string) => (await readFile(file, 'utf8')).split('\n').slice(0, -1);

function output() {
  let text = '';
  const out = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  return { out, text: () => text };
}

t.test('a new data directory gets an empty trail named in amsd.json; the head is checkpointed after the first event and at shutdown', async (t) => {
  const dataDir = join(await tempDir(t), 'data');
  const stateFile = join(dataDir, 'amsd.json');
  const first = await start(dataDir);
  const record = (await stateOf(stateFile)).auditTrail;
  t.match(record, { id: /^[0-9a-f-]{36}$/, checkpoint: { seq: 0, hash: GENESIS_HASH }, mac: /^[0-9a-f]{64}$/ });
  t.equal(first.daemon.audit.key.trailId, record.id, 'the log is keyed for the trail amsd.json names');

  await first.createKey('one');
  await first.daemon.store.mutate(() => undefined); // behind the checkpoint the first event scheduled
  t.match((await stateOf(stateFile)).auditTrail.checkpoint, { seq: 1, hash: first.daemon.audit.head.hash }, 'checkpointed at once after the first event');
  await first.createKey('two');
  await first.createKey('three');
  await first.stop();
  t.match((await stateOf(stateFile)).auditTrail, { id: record.id, checkpoint: { seq: 3 } }, 'and at shutdown');
  t.match(await verifyAuditLog(auditLogPath(dataDir), first.daemon.audit.key), { ok: true, events: 3, keyedFrom: 1 });

  const again = await start(dataDir);
  t.equal(again.daemon.audit.head.seq, 3, 'restarts on its trail');
  await again.stop();
});

t.test('checkpoints come every N events, not on every event', async (t) => {
  const dataDir = join(await tempDir(t), 'data');
  const stateFile = join(dataDir, 'amsd.json');
  const served = await start(dataDir, { testing: { auditCheckpoints: { everyEvents: 3, everyMs: 3_600_000 } } });
  t.teardown(() => served.stop());
  const checkpointed: number[] = [];
  for (let i = 0; i < 7; i++) {
    await served.createKey(`key ${i}`);
    await served.daemon.store.mutate(() => undefined);
    checkpointed.push((await stateOf(stateFile)).auditTrail.checkpoint.seq);
  }
  t.same(checkpointed, [1, 1, 1, 4, 4, 4, 7], 'after the first event, then each time three more came');
});

t.test('the head is checkpointed on a timer while events come', async (t) => {
  const dataDir = join(await tempDir(t), 'data');
  const served = await start(dataDir, { testing: { auditCheckpoints: { everyEvents: 1000, everyMs: 20 } } });
  t.teardown(() => served.stop());
  await served.createKey('one');
  await served.createKey('two');
  // The timer's write is the event waited for; the loop only bounds the wait.
  let seq = 0;
  for (let tries = 0; tries < 200 && seq < 2; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    seq = served.daemon.store.state.auditTrail?.checkpoint.seq ?? 0;
  }
  t.equal(seq, 2, 'the second event, which the count did not checkpoint, was checkpointed by the timer');
});

t.test('start refuses a trail that was lost, cut or recomputed, names the problem and the file, and changes nothing', async (t) => {
  const cases: [string, (file: string, stateFile: string) => Promise<void>, RegExp][] = [
    ['deleted', (file) => rm(file), /cannot be used: it is missing \(deleted or moved\), yet .*amsd\.json checkpointed seq 5 of trail/],
    ['emptied', (file) => writeFile(file, ''), /cannot be used: it was emptied, yet .*amsd\.json checkpointed seq 5/],
    ['cut at its start', async (file) => writeFile(file, (await linesOf(file)).slice(2).map((l) => l + '\n').join('')), /is broken at line 1 \(seq 3\): the trail starts at seq 3, and no audit\.pruned event accounts for events 1 to 2/],
    ['cut at its start, with a forged audit.pruned event', async (file) => writeFile(file, forgedPruning(await linesOf(file), 2).map((line) => line + '\n').join('')), /is broken at line 4 \(seq 6\): the hash is plain SHA-256, not keyed/],
    ['recomputed without the key', async (file) => writeFile(file, recomputedWithoutKey(await linesOf(file))), /is broken at line 1 \(seq 1\): no event is keyed/],
    ['cut at its end', async (file) => writeFile(file, (await linesOf(file)).slice(0, 3).map((l) => l + '\n').join('')), /is broken at line 4: cut at its end — the trail ends at seq 3, but the checkpoint in amsd\.json at \S+ says seq 5 was written: events 4 to 5 are missing/],
    ['cut mid-way through its last, acknowledged line', async (file) => writeFile(file, (await readFile(file, 'utf8')).slice(0, -25)), /is broken at line 5: cut at its end — the trail ends at seq 4 \(line 5 is incomplete, yet it was acknowledged\)/],
    ['its record removed from amsd.json', async (_file, stateFile) => writeFile(stateFile, JSON.stringify({ ...(await stateOf(stateFile)), auditTrail: undefined })), /amsd\.json names no audit trail, but the trail is not an intact unkeyed one either/],
    ['its checkpoint lowered in amsd.json', async (file, stateFile) => lowerCheckpoint(file, stateFile), /the auditTrail record in .*amsd\.json .* does not carry a valid MAC/],
  ];
  for (const [name, tamper, expected] of cases) {
    const { dataDir, file, stateFile } = await servedDataDir(t, 5);
    await tamper(file, stateFile);
    const before = existsSync(file) ? await readFile(file, 'utf8') : undefined;
    const error = await refusalOf(dataDir);
    t.ok(error, `${name}: refused`);
    t.match(error?.message, expected, `${name}: says what is wrong`);
    t.match(error?.message, `The audit trail ${file}`, `${name}: names the file`);
    t.match(error?.message, /amsd audit (reset|verify)/, `${name}: says what to do`);
    t.equal(existsSync(file) ? await readFile(file, 'utf8') : undefined, before, `${name}: the trail is left as it was`);
    t.notOk(existsSync(join(dataDir, 'amsd.lock')), `${name}: no lock left behind`);
    const verify = output();
    t.equal(await runAuditVerify(dataDir, verify.out), 1, `${name}: amsd audit verify fails too`);
    t.match(verify.text(), expected.source.includes('broken at') ? /^audit trail BROKEN/ : /^audit trail REFUSED/, `${name}: and says why`);
  }
});

t.test('start re-hashes the trail from its keyed checkpoint on; amsd audit verify re-hashes every event', async (t) => {
  /** Five events, checkpointed at seq 2 (as after a crash that came before the next checkpoint), one line then changed. */
  async function tamperedAt(seq: number, change: (event: Record<string, unknown>) => void) {
    const { dataDir, file, stateFile } = await servedDataDir(t, 5);
    const lines = await linesOf(file);
    const state = await stateOf(stateFile);
    const { key } = await loadMasterKey(dataDir, undefined, { create: false });
    state.auditTrail = trailRecord(key, { seq: 2, hash: JSON.parse(lines[1]!).hash }, state.auditTrail.id, state.auditTrail.createdAt);
    await writeFile(stateFile, JSON.stringify(state));
    const event = JSON.parse(lines[seq - 1]!);
    change(event);
    lines[seq - 1] = JSON.stringify(event);
    await writeFile(file, lines.map((line) => line + '\n').join(''));
    return { dataDir, file };
  }
  const edited = (event: Record<string, unknown>) => void (event.target = { kind: 'apiKey', id: 'someone-else' });
  const verifyOf = async (dataDir: string) => {
    const verify = output();
    return { code: await runAuditVerify(dataDir, verify.out), text: verify.text() };
  };

  const before = await tamperedAt(1, edited);
  const opened = await refusalOf(before.dataDir);
  t.equal(opened, undefined, 'an event edited before the checkpoint is not re-hashed at start');
  t.match(await verifyOf(before.dataDir), { code: 1, text: /^audit trail BROKEN[\s\S]*line 1 \(seq 1\)[\s\S]*hash mismatch/ }, 'amsd audit verify finds it');

  const after = await tamperedAt(4, edited);
  t.match((await refusalOf(after.dataDir))?.message, /is broken at line 4 \(seq 4\): hash mismatch — the event was changed after it was written/, 'an event edited after the checkpoint is refused at start');

  const atCheckpoint = await tamperedAt(2, edited);
  t.match((await refusalOf(atCheckpoint.dataDir))?.message, /is broken at line 2 \(seq 2\): hash mismatch/, "the checkpoint's own event is checked in full");

  const rehashed = await tamperedAt(1, (event) => {
    edited(event);
    event.hash = unkeyedHashEvent(event);
  });
  t.match((await refusalOf(rehashed.dataDir))?.message, /is broken at line 2 \(seq 2\): prevHash is not the previous event's hash/, 'before the checkpoint the links are still followed');
});

t.test('a trail whose data file is gone is not taken for a new data directory', async (t) => {
  const { dataDir, file, stateFile } = await servedDataDir(t, 2);
  await rm(stateFile);
  const error = await refusalOf(dataDir);
  t.match(error?.message, `The audit trail ${file} cannot be used: it holds events, but the data file ${stateFile} it belongs to is missing`);
  t.notOk(existsSync(stateFile), 'no new data file was made');
});

t.test('an unfinished last line after the checkpoint: moved to an evidence file, never deleted, and start goes on', async (t) => {
  const { dataDir, file } = await servedDataDir(t, 3);
  const complete = await readFile(file, 'utf8');
  const partial = '{"seq":4,"id":"d6c1f4a0-5b3e-4f43-9a55-1f6e1f1b2c3d","time":"2026-';
  await writeFile(file, complete + partial);
  const served = await start(dataDir);
  t.teardown(() => served.stop());
  const warning = served.logLines.map((line) => JSON.parse(line)).find((entry) => /unfinished write/.test(entry.msg));
  t.match(warning?.msg, /ended in an unfinished write \(line 4, \d+ bytes without a newline\), after the last checkpointed event \(seq 3\).*It was moved to /);
  const evidence = (await readdir(join(dataDir, 'audit'))).filter((name) => name.endsWith('.unfinished'));
  t.equal(evidence.length, 1, 'one evidence file next to the trail');
  t.equal(await readFile(join(dataDir, 'audit', evidence[0]!), 'utf8'), partial, 'holding the unfinished bytes');
  t.equal(await readFile(file, 'utf8'), complete, 'the trail goes on from its last complete line');
  await served.createKey('after');
  t.equal(served.daemon.audit.head.seq, 4);
});

t.test('retention keeps working with the keyed chain, across a restart whose checkpoint was pruned away', async (t) => {
  const dataDir = join(await tempDir(t), 'data');
  const served = await start(dataDir);
  for (let i = 0; i < 6; i++) await served.createKey(`key ${i}`);
  t.same(await served.daemon.audit.prune({ keepLast: 2 }), { removed: 4 });
  await served.stop();
  const again = await start(dataDir);
  t.teardown(() => again.stop());
  await again.createKey('after');
  t.match(await verifyAuditLog(auditLogPath(dataDir), again.daemon.audit.key), { ok: true, firstSeq: 5, events: 8 });
});

t.test('amsd audit reset: the old trail archived (never deleted), a new one whose first event says so', async (t) => {
  const { dataDir, file, stateFile } = await servedDataDir(t, 3);
  const oldId = (await stateOf(stateFile)).auditTrail.id;
  await writeFile(file, '');
  t.ok(await refusalOf(dataDir), 'an emptied trail is refused');

  const reset = output();
  t.equal(await runAuditReset({ dataDir, operator: 'tester', reason: 'ticket 7', out: reset.out }), 0, reset.text());
  t.match(reset.text(), /^archived the audit trail \(refused: it was emptied, .*\) as .*audit\.[0-9TZ-]+\.archived\.jsonl\nstarted a new trail [0-9a-f-]{36} at /);
  const archived = (await readdir(join(dataDir, 'audit'))).filter((name) => name.endsWith('.archived.jsonl'));
  t.equal(archived.length, 1);
  t.equal(await readFile(join(dataDir, 'audit', archived[0]!), 'utf8'), '', 'the archive is the trail as it was');

  const record = (await stateOf(stateFile)).auditTrail;
  t.not(record.id, oldId, 'a new trail id');
  const [first] = (await linesOf(file)).map((line) => JSON.parse(line));
  t.match(first, {
    seq: 1,
    eventId: 2153,
    type: 'audit.reset',
    reason: 'ticket 7',
    actor: { kind: 'system', displayName: 'amsd audit reset (run by tester)' },
    trail: { id: record.id, previous: { id: oldId, archivedAs: archived[0], check: /^refused: it was emptied/ } },
  });
  t.match(record.checkpoint, { seq: 1, hash: first.hash }, 'checkpointed at its first event');

  const served = await start(dataDir);
  t.teardown(() => served.stop());
  await served.createKey('after reset');
  t.equal(served.daemon.audit.head.seq, 2, 'amsd starts on the new trail');
  const busy = output();
  t.equal(await runAuditReset({ dataDir, operator: 'tester', out: busy.out }), 1, 'not while amsd serves the data directory');
  t.match(busy.text(), /Another amsd .* is using the data directory/);
});

t.test('a data directory from before keyed trails: refused until amsd audit rekey, which keeps the old events and records their head', async (t) => {
  const { dataDir, file, stateFile } = await servedDataDir(t, 4);
  // What an earlier amsd left: an unkeyed chain, and no auditTrail record in amsd.json.
  await writeFile(file, recomputedWithoutKey(await linesOf(file)));
  const legacyHead = JSON.parse((await linesOf(file)).at(-1)!);
  await writeFile(stateFile, JSON.stringify({ ...(await stateOf(stateFile)), auditTrail: undefined }));

  const error = await refusalOf(dataDir);
  t.match(error?.message, /amsd\.json names no audit trail and the trail's chain is not keyed \(4 events, plain SHA-256\)/);
  t.match(error?.message, `run \`amsd audit rekey --data-dir ${dataDir}\` once`);

  const rekey = output();
  t.equal(await runAuditRekey({ dataDir, operator: 'tester', out: rekey.out }), 0, rekey.text());
  t.match(rekey.text(), `events up to seq 4 were unkeyed, their last hash is ${legacyHead.hash}`);
  const rekeyed = JSON.parse((await linesOf(file)).at(-1)!);
  const record = (await stateOf(stateFile)).auditTrail;
  t.match(rekeyed, { seq: 5, eventId: 2152, type: 'audit.rekeyed', prevHash: legacyHead.hash, trail: { id: record.id, previous: { firstSeq: 1, lastSeq: 4, lastHash: legacyHead.hash, check: 'intact (unkeyed chain)' } } });

  const verify = output();
  t.equal(await runAuditVerify(dataDir, verify.out), 0, verify.text());
  t.match(verify.text(), /note: events 1 to 4 were written before the trail was keyed \(plain SHA-256\); the audit.rekeyed event at seq 5 holds their last hash/);
  const served = await start(dataDir);
  t.teardown(() => served.stop());
  await served.createKey('keyed');
  t.equal(served.daemon.audit.head.seq, 6);
  await served.stop();

  // Once keyed, an unkeyed event can no longer be appended, and the unkeyed part no longer changed.
  const lines = await linesOf(file);
  const tampered = JSON.parse(lines[1]!);
  tampered.actor.displayName = 'Someone else';
  tampered.hash = unkeyedHashEvent(tampered);
  await writeFile(file, recomputedWithoutKey([...lines.slice(0, 1), JSON.stringify(tampered), ...lines.slice(2, 4)]) + lines.slice(4).map((l) => l + '\n').join(''));
  t.match((await refusalOf(dataDir))?.message, /is broken at line 5 \(seq 5\): prevHash is not the previous event's hash/);

  const broken = await readFile(file, 'utf8');
  const again = output();
  t.equal(await runAuditRekey({ dataDir, operator: 'tester', out: again.out }), 0);
  t.match(again.text(), /is keyed already .*nothing to do/, 'rekey does not touch a keyed trail');
  t.equal(await readFile(file, 'utf8'), broken, 'and does not paper over its break');
});

t.test('a rekey interrupted between its event and amsd.json is finished by running it again', async (t) => {
  const { dataDir, file, stateFile } = await servedDataDir(t, 2);
  await writeFile(file, recomputedWithoutKey(await linesOf(file)));
  const withoutRecord = JSON.stringify({ ...(await stateOf(stateFile)), auditTrail: undefined });
  await writeFile(stateFile, withoutRecord);
  t.equal(await runAuditRekey({ dataDir, operator: 'tester', out: output().out }), 0);
  const rekeyed = JSON.parse((await linesOf(file)).at(-1)!);
  await writeFile(stateFile, withoutRecord); // as if it had stopped before writing amsd.json
  t.ok(await refusalOf(dataDir), 'refused at start meanwhile');

  const again = output();
  t.equal(await runAuditRekey({ dataDir, operator: 'tester', out: again.out }), 0, again.text());
  t.match(again.text(), `finished an interrupted rekey: ${stateFile} now names trail ${rekeyed.trail.id}`);
  t.equal((await linesOf(file)).length, 3, 'no second audit.rekeyed event');
  const served = await start(dataDir);
  t.teardown(() => served.stop());
  t.equal(served.daemon.audit.head.seq, 3);
});

t.test('the compiled CLI: amsd audit reset needs --confirm; rekey and verify take the data dir', async (t) => {
  const cli = join(packageRoot, 'dist', 'daemon', 'cli.js');
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, AMS_MASTER_KEY_FILE: '' } });
  const { dataDir, file } = await servedDataDir(t, 2);
  for (const command of ['reset', 'rekey', 'verify']) t.match(run('audit', command, '--help').stdout, /--data-dir <dir>/, `${command} --help`);

  const unconfirmed = run('audit', 'reset', '--data-dir', dataDir);
  t.not(unconfirmed.status, 0);
  t.match(unconfirmed.stderr, /--confirm/);
  t.equal((await linesOf(file)).length, 2, 'nothing was reset');

  const reset = run('audit', 'reset', '--data-dir', dataDir, '--confirm');
  t.equal(reset.status, 0, reset.stdout + reset.stderr);
  t.match(reset.stdout, /archived the audit trail \(intact\)/);
  const verified = run('audit', 'verify', '--data-dir', dataDir);
  t.equal(verified.status, 0, verified.stdout);
  t.match(verified.stdout, /^audit trail OK: 1 events, keyed chain intact/);
  const rekey = run('audit', 'rekey', '--data-dir', dataDir);
  t.equal(rekey.status, 0);
  t.match(rekey.stdout, /is keyed already/);
});

/** Every line re-hashed as the unkeyed chain would have it: what anyone without the master key can compute. */
function recomputedWithoutKey(lines: string[]): string {
  let prevHash = GENESIS_HASH;
  return lines
    .map((line) => {
      const event = JSON.parse(line);
      event.prevHash = prevHash;
      event.hash = prevHash = unkeyedHashEvent(event);
      return JSON.stringify(event) + '\n';
    })
    .join('');
}


/** What hiding a cut at the end would take: the checkpoint moved back to an earlier event. */
async function lowerCheckpoint(file: string, stateFile: string) {
  const state = await stateOf(stateFile);
  const third = JSON.parse((await linesOf(file))[2]!);
  state.auditTrail.checkpoint = { ...state.auditTrail.checkpoint, seq: 3, hash: third.hash };
  await writeFile(stateFile, JSON.stringify(state));
  await writeFile(file, (await linesOf(file)).slice(0, 3).map((l) => l + '\n').join(''));
}
