/**
 * `amsd audit verify`: one line an admin can act on, and an exit code a script can. The last test
 * runs the compiled CLI, so it needs `npm run build` first (npm test does it).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { auditLogPath, openAuditLog } from '../../daemon/audit/audit-log.js';
import { runAuditVerify } from '../../daemon/audit/verify-command.js';
import { packageRoot } from '../../daemon/package-root.js';
import { alice, bob, change, pc1, secretRead } from './sample-events.js';
import { tempDir, type TestContext } from '../helpers.js';

/** A data directory whose trail holds `count` events. */
async function dataDirWithTrail(t: TestContext, count: number): Promise<{ dataDir: string; file: string }> {
  const dataDir = join(await tempDir(t), 'data');
  const file = auditLogPath(dataDir);
  const { log } = await openAuditLog(file);
  for (let i = 0; i < count; i++) await log.append(i % 3 ? secretRead(bob, pc1) : change(alice, 'rule.updated', { n: i }, { n: i + 1 }));
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

t.test('an intact trail: exit 0, the count, the file and the last hash', async (t) => {
  const { dataDir, file } = await dataDirWithTrail(t, 20);
  const last = JSON.parse((await readFile(file, 'utf8')).trim().split('\n').at(-1)!);
  const { code, output } = await verify(dataDir);
  t.equal(code, 0);
  t.equal(output.split('\n')[0], 'audit trail OK: 20 events, chain intact');
  t.match(output, `file: ${file}`);
  t.match(output, `last hash: ${last.hash} (${last.time})`);
});

t.test('a changed event: exit 1, and the line, the seq and what it means', async (t) => {
  const { dataDir, file } = await dataDirWithTrail(t, 20);
  const lines = (await readFile(file, 'utf8')).split('\n');
  lines[16] = lines[16]!.replace('"Bob Helpdesk"', '"Someone Else"');
  await writeFile(file, lines.join('\n'));
  const { code, output } = await verify(dataDir);
  t.equal(code, 1);
  t.equal(output.split('\n')[0], 'audit trail BROKEN at line 17 (seq 17): hash mismatch — the event was changed after it was written');
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

t.test('an unfinished last line: exit 0, with a note', async (t) => {
  const { dataDir, file } = await dataDirWithTrail(t, 3);
  await writeFile(file, (await readFile(file, 'utf8')) + '{"seq":4,"id"');
  const { code, output } = await verify(dataDir);
  t.equal(code, 0);
  t.match(output, /^audit trail OK: 3 events, chain intact/);
  t.match(output, /note: line 4 \(13 bytes\) is an unfinished write/);
});

t.test('no trail, or one that cannot be read: exit 1', async (t) => {
  const dataDir = join(await tempDir(t), 'data');
  const missing = await verify(dataDir);
  t.equal(missing.code, 1);
  t.equal(missing.output, `no audit trail at ${auditLogPath(dataDir)}\n`);

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
  t.match(ok.stdout, /^audit trail OK: 4 events, chain intact/);

  await writeFile(file, (await readFile(file, 'utf8')).replace('"rule.updated"', '"rule.created"'));
  const broken = run('audit', 'verify', '--data-dir', dataDir);
  t.equal(broken.status, 1);
  t.match(broken.stdout, /^audit trail BROKEN at line 1 \(seq 1\): hash mismatch/);

  const fromEnvironment = spawnSync(process.execPath, [cli, 'audit', 'verify'], { encoding: 'utf8', env: { ...process.env, AMS_DATA_DIR: join(dataDir, 'elsewhere') } });
  t.equal(fromEnvironment.status, 1, '$AMS_DATA_DIR is the default data dir');
  t.match(fromEnvironment.stdout, `no audit trail at ${auditLogPath(join(dataDir, 'elsewhere'))}`);
});
