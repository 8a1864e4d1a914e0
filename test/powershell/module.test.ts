/**
 * The generated AccessManager module run in the PowerShell 7 engine against `amsd demo`: each line of
 * module.smoke.ps1 ("ok"/"FAIL"/"skip") is an assertion here. pwsh and Pester are not installable from
 * this machine's registries; run.sh builds the engine from NuGet with stand-in command modules
 * (tools/amspwsh). Needs dotnet and the built daemon (npm test builds it).
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../daemon/package-root.js';

const hasDotnet = spawnSync('dotnet', ['--version'], { encoding: 'utf8' }).status === 0;

t.test('the module imports, documents itself, and works against a live daemon', { skip: hasDotnet ? false : 'dotnet is not installed', timeout: 300_000 }, async (t) => {
  const child = spawn('bash', [join(packageRoot, 'test', 'powershell', 'run.sh')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const [code] = await once(child, 'exit');

  const steps = [...output.matchAll(/^(ok|FAIL|skip) +(.*)$/gm)];
  t.ok(steps.length > 0, `the smoke test ran steps: ${steps.length > 0 ? '' : output.slice(-4000)}`);
  for (const [, status, name] of steps) {
    if (status === 'skip') t.pass(`${name!} (skipped: no live daemon)`, { skip: true });
    else t.ok(status === 'ok', name!, status === 'FAIL' ? { diagnostic: true, output: output.slice(-4000) } : {});
  }
  t.match(output, /^\d+ passed, 0 failed, \d+ skipped$/m, 'its summary has no failure');
  t.equal(code, 0, 'run.sh exits 0');
});
