/**
 * ESLint (eslint.config.js) finds nothing in the project, and its layering rule really holds: each
 * wrong-way import below is refused and each right-way one is let through. The second part keeps the
 * first honest: an import the resolver could not follow would be skipped silently, not reported.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import t from 'tap';
import { packageRoot } from '../../openapi/package-root.js';

// ESLint's type-aware pass over the whole project takes minutes on two cores beside the other test
// files: this file's own bound, above the runner's default for the others (a bound, not a measurement).
t.setTimeout(600_000);

const eslint = new ESLint({ cwd: packageRoot });

t.test('eslint . finds nothing', async (t) => {
  const results = await eslint.lintFiles(['.']);
  const formatter = await eslint.loadFormatter('stylish');
  const problems = results.reduce((sum, r) => sum + r.errorCount + r.warningCount, 0);
  t.equal(problems, 0, `eslint findings (run npm run lint):\n${await formatter.format(results)}`);
});

/** [file that imports, what it imports, whether the layering allows it] */
const imports: [string, string, boolean][] = [
  ['daemon/store/records.ts', '../access/evaluation.js', false],
  ['daemon/store/records.ts', '../common/serial.js', true],
  ['daemon/common/serial.ts', '../store/records.js', false],
  ['daemon/audit/chain.ts', '../http/problem.js', false],
  ['daemon/audit/chain.ts', '../store/records.js', true],
  ['daemon/audit/chain.ts', '../access/evaluation.js', true],
  ['daemon/api/service.ts', '../http/binder.js', false],
  ['daemon/api/service.ts', '../access/evaluation.js', true],
  ['daemon/http/binder.ts', '../daemon.js', false],
  ['daemon/http/binder.ts', '../api/index.js', true],
  ['daemon/simulated-tenant/graph.ts', '../directory/laps.js', false],
  ['psmodule/generator/names.ts', '../../daemon/common/serial.js', false],
  ['daemon/app.ts', '../test/helpers.js', false],
];

t.test('the import layering refuses wrong-way imports and allows the others', async (t) => {
  for (const [file, imported, allowed] of imports) {
    // The file's own text with one more import, linted as that file (so its folder's zones apply).
    const text = `import * as added from '${imported}';\nvoid added;\n${readFileSync(join(packageRoot, file), 'utf8')}`;
    const [result] = await eslint.lintText(text, { filePath: join(packageRoot, file) });
    const layering = (result?.messages ?? []).filter((m) => m.ruleId === 'import-x/no-restricted-paths' && m.line === 1);
    t.equal(layering.length, allowed ? 0 : 1, `${file} importing ${imported} is ${allowed ? 'allowed' : 'refused'}`);
  }
});
