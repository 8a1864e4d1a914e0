/**
 * `amsd audit verify`: one line an admin can act on, and an exit code a script can; it finds what
 * amsd refuses at start (a missing, emptied, cut or recomputed trail). The last test runs the
 * compiled CLI, so it needs `npm run build` first (npm test does it).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { auditLogPath, openAuditLog } from '../../daemon/audit/audit-log.js';
import { runAuditVerify } from '../../daemon/audit/verify-command.js';
import { packageRoot } from '../../openapi/package-root.js';
import { readState } from '../../daemon/store/state-files.js';
import { unkeyedHashEvent, GENESIS_HASH } from '../../daemon/audit/chain.js';
import { alice, bindTestTrail, bob, change, pc1, secretRead, testKey } from './sample-events.js';
import { tempDir, type TestContext } from '../helpers.js';

/** A data directory whose trail holds `count` events, checkpointed in its amsd.json at the last one. */
async function dataDirWithTrail(t: TestContext, count: number): Promise<{ dataDir: string; file: string }> {
  const dataDir = join(await tempDir(t), 'data');
  const file = auditLogPath(dataDir);
  const { log } = await openAuditLog(file, { key: testKey });
  for (let i = 0; i < count; i++) await log.append(i % 3 ? secretRead(bob, pc1) : change(alice, 'rule.updated', { n: i }, { n: i + 1 }));
  await bindTestTrail(dataDir, log.head);
  await log.close();
  return { dataDir, file };
}

async function verify(dataDir: string): Promise<{ code: number; output: string }> {
  let output = '';
  const out = new Writable({
    write(chunk, _encoding, done) {
      output += String(chunk);
      done();
    },
  });
  const code = await runAuditVerify(dataDir, out);
  return { code, output };
}

t.test('an intact trail: exit 0, the count, the file, the trail, its checkpoint and the last hash', async (t) => {
  const { dataDir, file } = await dataDirWithTrail(t, 20);
  const last = JSON.parse((await readFile(file, 'utf8')).trim().split('\n').at(-1)!);
  const { code, output } = await verify(dataDir);
  t.equal(code, 0);
  t.equal(output.split('\n')[0], 'audit trail OK: 20 events, keyed chain intact');
  t.match(output, `file: ${file}`);
  t.match(output, `trail: ${testKey.trailId} (named in ${join(dataDir, 'amsd.json')})`);
  t.match(output, /checkpoint: seq 20 at \S+, reached/);
  t.match(output, `last hash: ${last.hash} (${last.time})`);
});

t.test('what amsd refuses at start, verify reports: missing, emptied, cut at the end, recomputed without the key, a record changed', async (t) => {
  const cases: [string, (dataDir: string, file: string) => Promise<void>, RegExp][] = [
    ['a deleted trail', async (_dataDir, file) => rm(file), /^audit trail REFUSED: it is missing \(deleted or moved\), yet .*amsd\.json checkpointed seq 6 of trail /],
    ['an emptied trail', async (_dataDir, file) => writeFile(file, ''), /^audit trail REFUSED: it was emptied, yet .*checkpointed seq 6/],
    ['the last two events cut', async (_dataDir, file) => writeFile(file, (await readFile(file, 'utf8')).split('\n').slice(0, 4).join('\n') + '\n'), /^audit trail BROKEN at line 5: cut at its end — the trail ends at seq 4, but the checkpoint in amsd\.json at \S+ says seq 6 was written: events 5 to 6 are missing/],
    ['the last event cut mid-line', async (_dataDir, file) => writeFile(file, (await readFile(file, 'utf8')).slice(0, -30)), /^audit trail BROKEN at line 6: cut at its end — the trail ends at seq 5 \(line 6 is incomplete, yet it was acknowledged\)/],
    ['the trail recomputed without the key', async (_dataDir, file) => writeFile(file, recomputed(await readFile(file, 'utf8'))), /^audit trail BROKEN at line 1 \(seq 1\): no event is keyed/],
    ['the checkpoint lowered in amsd.json', async (dataDir) => lowerCheckpoint(dataDir), /^audit trail REFUSED: the auditTrail record in .*amsd\.json \(trail .*\) does not carry a valid MAC/],
    ['another master key', async (dataDir) => writeFile(join(dataDir, 'master.key'), Buffer.alloc(32, 9).toString('base64')), /^audit trail REFUSED: .* does not carry a valid MAC: .*or this is not the master key/],
    ['the record removed from amsd.json', async (dataDir) => removeRecord(dataDir), /^audit trail REFUSED: .*amsd\.json names no audit trail, but the trail is not an intact unkeyed one either/],
  ];
  for (const [name, tamper, expected] of cases) {
    const { dataDir, file } = await dataDirWithTrail(t, 6);
    await tamper(dataDir, file);
    const { code, output } = await verify(dataDir);
    t.equal(code, 1, `${name}: exit 1`);
    t.match(output, expected, `${name}: says what is wrong`);
    t.match(output, `file: ${file}`, `${name}: and which file`);
  }
});

function recomputed(text: string): string {
  let prevHash = GENESIS_HASH;
  return text.split('\n').slice(0, -1).map((line) => {
    const event = JSON.parse(line);
    event.prevHash = prevHash;
    event.hash = prevHash = unkeyedHashEvent(event);
    return JSON.stringify(event) + '\n';
  }).join('');
}

async function lowerCheckpoint(dataDir: string) {
  const state = (await readState(join(dataDir, 'amsd.json')))!;
  const lines = (await readFile(auditLogPath(dataDir), 'utf8')).split('\n');
  state.auditTrail!.checkpoint = { ...state.auditTrail!.checkpoint, seq: 4, hash: JSON.parse(lines[3]!).hash };
  await writeFile(join(dataDir, 'amsd.json'), JSON.stringify(state));
}

async function removeRecord(dataDir: string) {
  const state = (await readState(join(dataDir, 'amsd.json')))!;
  delete state.auditTrail;
  await writeFile(join(dataDir, 'amsd.json'), JSON.stringify(state));
}

t.test('a changed event: exit 1, and the line, the seq and what it means', async (t) => {
  const { dataDir, file } = await dataDirWithTrail(t, 20);
  const lines = (await readFile(file, 'utf8')).split('\n');
  lines[16] = lines[16]!.replace('"Bob Helpdesk"', '"Someone Else"');
  await writeFile(file, lines.join('\n'));
  const { code, output } = await verify(dataDir);
  t.equal(code, 1);
  t.match(output.split('\n')[0], /^audit trail BROKEN at line 17 \(seq 17\): hash mismatch — the event was changed after it was written/);
  t.match(output, '16 events before it are intact');
});

t.test('a removed event: exit 1, at the line where the gap shows', async (t) => {
  const { dataDir, file } = await dataDirWithTrail(t, 5);
  const lines = (await readFile(file, 'utf8')).split('\n');
  lines.splice(1, 1);
  await writeFile(file, lines.join('\n'));
  const { code, output } = await verify(dataDir);
  t.equal(code, 1);
  t.match(output.split('\n')[0], /^audit trail BROKEN at line 2 \(seq 3\): expected seq 2, found 3/);
});

t.test('garbage: exit 1, no seq to name', async (t) => {
  const { dataDir, file } = await dataDirWithTrail(t, 3);
  await writeFile(file, (await readFile(file, 'utf8')) + 'not json\n');
  const { code, output } = await verify(dataDir);
  t.equal(code, 1);
  t.match(output.split('\n')[0], /^audit trail BROKEN at line 4: not valid JSON/);
});

t.test('an unfinished last line after the checkpoint: exit 0, with a note', async (t) => {
  const { dataDir, file } = await dataDirWithTrail(t, 3);
  await writeFile(file, (await readFile(file, 'utf8')) + '{"seq":4,"id"');
  const { code, output } = await verify(dataDir);
  t.equal(code, 0);
  t.match(output, /^audit trail OK: 3 events, keyed chain intact/);
  t.match(output, /note: line 4 \(13 bytes\) is an unfinished write after the checkpoint/);
});

t.test('no trail, or one that cannot be read: exit 1', async (t) => {
  const dataDir = join(await tempDir(t), 'data');
  const missing = await verify(dataDir);
  t.equal(missing.code, 1);
  t.equal(missing.output, `no audit trail at ${auditLogPath(dataDir)} (and no data file ${join(dataDir, 'amsd.json')})\n`);

  await bindTestTrail(dataDir, { seq: 0, hash: GENESIS_HASH });
  await mkdir(auditLogPath(dataDir), { recursive: true }); // a directory where the file should be
  const unreadable = await verify(dataDir);
  t.equal(unreadable.code, 1);
  t.match(unreadable.output, /^cannot read the audit trail at .*EISDIR/);
});

t.test('the compiled CLI: amsd audit verify --data-dir DIR', async (t) => {
  const cli = join(packageRoot, 'dist', 'daemon', 'cli.js');
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, AMS_DATA_DIR: '' } });

  const help = run('audit', 'verify', '--help');
  t.equal(help.status, 0);
  t.match(help.stdout, /--data-dir <dir>/);
  t.match(help.stdout, /AMS_DATA_DIR/);

  const { dataDir, file } = await dataDirWithTrail(t, 4);
  const ok = run('audit', 'verify', '--data-dir', dataDir);
  t.equal(ok.status, 0, ok.stderr);
  t.match(ok.stdout, /^audit trail OK: 4 events, keyed chain intact/);

  await writeFile(file, (await readFile(file, 'utf8')).replace('"rule.updated"', '"rule.created"'));
  const broken = run('audit', 'verify', '--data-dir', dataDir);
  t.equal(broken.status, 1);
  t.match(broken.stdout, /^audit trail BROKEN at line 1 \(seq 1\): hash mismatch/);

  const fromEnvironment = spawnSync(process.execPath, [cli, 'audit', 'verify'], { encoding: 'utf8', env: { ...process.env, AMS_DATA_DIR: join(dataDir, 'elsewhere') } });
  t.equal(fromEnvironment.status, 1, '$AMS_DATA_DIR is the default data dir');
  t.match(fromEnvironment.stdout, `no audit trail at ${auditLogPath(join(dataDir, 'elsewhere'))}`);

  const elsewhere = join(await tempDir(t), 'master.key');
  await writeFile(elsewhere, await readFile(join(dataDir, 'master.key')));
  await writeFile(join(dataDir, 'master.key'), Buffer.alloc(32, 1).toString('base64'));
  await writeFile(file, (await readFile(file, 'utf8')).replace('"rule.created"', '"rule.updated"'));
  const withKeyFile = spawnSync(process.execPath, [cli, 'audit', 'verify', '--data-dir', dataDir], { encoding: 'utf8', env: { ...process.env, AMS_MASTER_KEY_FILE: elsewhere } });
  t.equal(withKeyFile.status, 0, '$AMS_MASTER_KEY_FILE is the master key, as for amsd serve');
});
