/**
 * The PowerShell runner's contract, in real PowerShell 7 (installed by scripts/install-powershell.sh):
 * the script gets the event as JSON on standard input, its exit code and error output decide, and a
 * script still running at the limit is stopped with what it started. Without pwsh this fails in CI
 * and is skipped, loudly, elsewhere.
 */
import t, { type Test } from 'tap';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { deliver, runPowerShell } from '../../daemon/notifications/deliver.js';
import { packageRoot } from '../../openapi/package-root.js';
import { tempDir } from '../helpers.js';
import { HOSTILE, channel, event, sealer } from './fixtures.js';

const pwshPath = process.env.AMS_TEST_PWSH ?? join(packageRoot, '.tools', 'pwsh', 'pwsh');
const missing = existsSync(pwshPath) ? undefined : `PowerShell is not installed at ${pwshPath}: run scripts/install-powershell.sh`;
if (missing && process.env.CI) t.fail(missing);
else if (missing) console.error(`\n*** ${missing}. The PowerShell channel tests are SKIPPED. ***\n`);
const needsPwsh = { skip: missing ?? false };

async function setUp(t: Test) {
  const dir = await tempDir(t, 'amsd-pwsh-');
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

t.test('the script gets the event as JSON on standard input; exit 0 and silence is a delivery', needsPwsh, async (t) => {
  const { dir, pwshPath, script } = await setUp(t);
  const received = join(dir, 'received.json');
  const scriptPath = await script('Notify', `[System.IO.File]::WriteAllText('${received}', [Console]::In.ReadToEnd())`);
  const result = await deliver(channel({ name: 'ps', kind: 'powershell', scriptPath }), event(), { sealer, pwshPath, extra: { ruleDescription: 'Helpdesk' } });
  t.same(result, { ok: true });
  const input = JSON.parse(await readFile(received, 'utf8'));
  t.match(input.variables, { Reason: HOSTILE, ComputerName: 'PC-"007"\\</script>', Code: 'Success', MatchedRuleDescription: 'Helpdesk', EventId: '3001' });
  t.match(input.event, { type: 'secret.read', accessType: 'LocalAdminPassword', device: { deviceId: 'dddd0001-0000-4000-8000-000000000001' }, outcome: { code: 'Success' } });
});

t.test('a non-zero exit code or anything on standard error is a failed delivery', needsPwsh, async (t) => {
  const { pwshPath, script } = await setUp(t);
  const options = { pwshPath, timeoutMs: 15000 };
  t.match(await runPowerShell(await script('Fail', `[Console]::Error.Write('Cannot reach the ticket system'); exit 3`), '{}', options), {
    ok: false,
    retryable: true,
    error: 'the script exited with code 3: Cannot reach the ticket system',
  });
  t.match(await runPowerShell(await script('Exit1', 'exit 1'), '{}', options), { ok: false, error: 'the script exited with code 1' });
  t.match(await runPowerShell(await script('Warn', `[Console]::Error.Write("something\`nsecond line")`), '{}', options), {
    ok: false,
    error: 'the script wrote to its error output: something second line',
  });
  t.match(await runPowerShell(await script('WriteError', `Write-Error 'The ticket system said no'`), '{}', options), { ok: false, error: /The ticket system said no/ }, 'Write-Error, as a script author writes it');
  t.same(await runPowerShell(await script('Chatty', `'x' * 200000`), '{}', options), { ok: true }, 'standard output is fine, however long');
});

t.test('a script still running at the limit is killed, with what it started', needsPwsh, async (t) => {
  const { dir, pwshPath, script } = await setUp(t);
  const pids = join(dir, 'pids.json');
  const scriptPath = await script(
    'Hang',
    `$child = Start-Process -FilePath '${process.execPath}' -ArgumentList '-e', 'setTimeout(() => {}, 60000)' -PassThru
     [System.IO.File]::WriteAllText('${pids}', ('[{0},{1}]' -f $PID, $child.Id))
     Start-Sleep -Seconds 60`,
  );
  const started = Date.now();
  const result = await runPowerShell(scriptPath, '{}', { pwshPath, timeoutMs: 4000 });
  t.match(result, { ok: false, retryable: true, error: 'the script did not finish within 4 s and was stopped' });
  t.ok(Date.now() - started < 10000, `gave up at the limit (${Date.now() - started} ms)`);
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
