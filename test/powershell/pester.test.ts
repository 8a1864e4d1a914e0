/**
 * The AccessManager module in real PowerShell 7 with Pester 5, against a live `amsd demo` (port 0, its
 * own data directory): every Pester test (test/powershell/*.Tests.ps1) is one tap assertion here, named
 * as Pester names it. pwsh and Pester are installed by scripts/install-powershell.sh (`.ci/run` runs it);
 * without them this fails in CI and is skipped, loudly, elsewhere.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../openapi/package-root.js';
import { startDemo } from './demo-process.js';

const pwsh = process.env.AMS_TEST_PWSH ?? join(packageRoot, '.tools', 'pwsh', 'pwsh');
const pester = join(packageRoot, '.tools', 'nuget', 'pester', '5.7.1', 'tools', 'Pester.psd1');
const missing = [pwsh, pester].filter((file) => !existsSync(file));

if (missing.length > 0) {
  const why = `PowerShell 7.6.9 or Pester 5.7.1 is not installed (${missing.join(', ')}): run scripts/install-powershell.sh`;
  if (process.env.CI) {
    t.fail(why);
  } else {
    console.error(`\n*** ${why}. The module's Pester suite is SKIPPED. ***\n`);
    t.pass('the Pester suite', { skip: why });
  }
} else {
  t.test('the AccessManager module in PowerShell 7.6.9 (Pester)', { timeout: 600_000 }, async (t) => {
    const work = mkdtempSync(join(tmpdir(), 'amsd-pester-'));
    const demo = await startDemo(join(work, 'demo'));
    t.teardown(async () => {
      await demo.stop();
      rmSync(work, { recursive: true, force: true });
    });
    const resultFile = join(work, 'results.jsonl');
    // The banner's PowerShell lines are run as printed (Errors.Tests.ps1).
    const bannerFile = join(work, 'banner.txt');
    writeFileSync(bannerFile, demo.banner);
    const child = spawn(
      pwsh,
      ['-NoProfile', '-NonInteractive', '-File', join(packageRoot, 'test', 'powershell', 'Invoke-AmsPester.ps1'), '-Pester', pester, '-DemoJson', demo.demoJson, '-ResultFile', resultFile],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', TERM: 'dumb', AMS_DEMO_BANNER: bannerFile } },
    );
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const [code] = await once(child, 'exit');
    const results = existsSync(resultFile)
      ? readFileSync(resultFile, 'utf8').replace(/^\uFEFF/, '').split('\n').filter(Boolean).map((line) => JSON.parse(line) as { name: string; result: string; message: string | null })
      : [];
    t.ok(results.length > 0, 'Pester ran tests', results.length > 0 ? {} : { output: output.slice(-6000) });
    for (const test of results) {
      if (test.result === 'Skipped' || test.result === 'NotRun') t.pass(test.name, { skip: test.result });
      else t.ok(test.result === 'Passed', test.name, test.result === 'Passed' ? {} : { diagnostic: true, error: test.message ?? '', output: output.slice(-3000) });
    }
    t.equal(code, results.filter((r) => r.result === 'Failed').length, 'the Pester run exits with the number of failed tests');
  });
}
