/**
 * The PowerShell runner's contract, with a stand-in for pwsh (pwsh is not on the test machines): an
 * executable Node script that insists on `-NoProfile -NonInteractive -File <script>`, reads standard
 * input, and runs the "script" file — JavaScript here — with that input.
 */
import t, { type Test } from 'tap';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { deliver, runPowerShell } from '../../daemon/notifications/deliver.js';
import { tempDir } from '../helpers.js';
import { HOSTILE, channel, event, sealer } from './fixtures.js';

const STAND_IN = `#!${process.execPath}
import { readFileSync } from 'node:fs';
const args = process.argv.slice(2);
if (args.length !== 4 || args[0] !== '-NoProfile' || args[1] !== '-NonInteractive' || args[2] !== '-File') {
  process.stderr.write('stand-in pwsh: unexpected arguments ' + JSON.stringify(args));
  process.exit(64);
}
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
globalThis.input = Buffer.concat(chunks).toString('utf8');
await import('data:text/javascript,' + encodeURIComponent(readFileSync(args[3], 'utf8')));
`;

async function setUp(t: Test) {
  const dir = await tempDir(t, 'amsd-pwsh-');
  const pwshPath = join(dir, 'pwsh.mjs');
  await writeFile(pwshPath, STAND_IN);
  await chmod(pwshPath, 0o755);
  const script = async (name: string, code: string) => {
    const path = join(dir, `${name}.ps1`);
    await writeFile(path, code);
    return path;
  };
  return { dir, pwshPath, script };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('the script gets the event as JSON on standard input; exit 0 and silence is a delivery', async (t) => {
  const { dir, pwshPath, script } = await setUp(t);
  const received = join(dir, 'received.json');
  const scriptPath = await script('Notify', `import { writeFileSync } from 'node:fs'; writeFileSync(${JSON.stringify(received)}, globalThis.input);`);
  const result = await deliver(channel({ name: 'ps', kind: 'powershell', scriptPath }), event(), { sealer, pwshPath, extra: { ruleDescription: 'Helpdesk' } });
  t.same(result, { ok: true });
  const input = JSON.parse(await readFile(received, 'utf8'));
  t.match(input.variables, { Reason: HOSTILE, ComputerName: 'PC-"007"\\</script>', Code: 'Success', MatchedRuleDescription: 'Helpdesk', EventId: '3001' });
  t.match(input.event, { type: 'secret.read', accessType: 'LocalAdminPassword', device: { deviceId: 'dddd0001-0000-4000-8000-000000000001' }, outcome: { code: 'Success' } });
});

t.test('a non-zero exit code or anything on standard error is a failed delivery', async (t) => {
  const { pwshPath, script } = await setUp(t);
  const options = { pwshPath, timeoutMs: 5000 };
  t.match(await runPowerShell(await script('Fail', `process.stderr.write('Cannot reach the ticket system'); process.exit(3);`), '{}', options), {
    ok: false,
    retryable: true,
    error: 'the script exited with code 3: Cannot reach the ticket system',
  });
  t.match(await runPowerShell(await script('Exit1', 'process.exit(1);'), '{}', options), { ok: false, error: 'the script exited with code 1' });
  t.match(await runPowerShell(await script('Warn', `process.stderr.write('Write-Error: something\\nsecond line');`), '{}', options), {
    ok: false,
    error: 'the script wrote to its error output: Write-Error: something second line',
  });
  t.same(await runPowerShell(await script('Chatty', `process.stdout.write('x'.repeat(200000));`), '{}', options), { ok: true }, 'standard output is fine, however long');
});

t.test('a script still running at the limit is killed, with what it started', async (t) => {
  const { dir, pwshPath, script } = await setUp(t);
  const pids = join(dir, 'pids.json');
  const scriptPath = await script(
    'Hang',
    `import { spawn } from 'node:child_process';
     import { writeFileSync } from 'node:fs';
     const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
     writeFileSync(${JSON.stringify(pids)}, JSON.stringify([process.pid, child.pid]));
     setTimeout(() => {}, 60000);`,
  );
  const started = Date.now();
  const result = await runPowerShell(scriptPath, '{}', { pwshPath, timeoutMs: 1000 });
  t.match(result, { ok: false, retryable: true, error: 'the script did not finish within 1 s and was stopped' });
  t.ok(Date.now() - started < 5000, `gave up at the limit (${Date.now() - started} ms)`);
  const [scriptPid, childPid] = JSON.parse(await readFile(pids, 'utf8')) as number[];
  // Whatever happens below, nothing is left running.
  t.teardown(() => {
    for (const pid of [scriptPid!, childPid!]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  for (let i = 0; i < 40 && (alive(scriptPid!) || alive(childPid!)); i++) await sleep(50);
  t.notOk(alive(scriptPid!), 'the script is gone');
  t.notOk(alive(childPid!), 'and so is what it started');
});

t.test('a missing pwsh is named, and not retried', async (t) => {
  const { script } = await setUp(t);
  const result = await runPowerShell(await script('Any', ''), '{}', { pwshPath: '/nonexistent/pwsh', timeoutMs: 1000 });
  t.match(result, { ok: false, retryable: false, error: /\/nonexistent\/pwsh: it was not found \(install PowerShell 7, or set AMS_PWSH/ });
});
