/**
 * `amsd serve` loads at start only what serving needs: the demo's simulated tenant, the mailer, the CSV
 * parser, MSAL, jose and Swagger UI (with the YAML parser) come with their first use (idle memory and
 * start-up, issue 14). The compiled CLI runs in a real process with a module hook that lists every
 * module it loads. Needs `npm run build` first.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../../openapi/package-root.js';
import { tempDir } from '../helpers.js';

const CLI = join(packageRoot, 'dist', 'daemon', 'cli.js');
const START_TIMEOUT_MS = 15_000;
/** Packages `serve` has no use for until a mail, a CSV import, a Graph call, an Entra token, Swagger UI, the demo or --database. */
const LOADED_ON_USE = ['pg', 'nodemailer', 'csv-parse', '@azure/msal-node', 'jose', 'node-forge', '@fastify/swagger', '@fastify/swagger-ui', 'yaml'];

t.test('serve starts and answers without loading the packages it uses only on demand', async (t) => {
  const dir = await tempDir(t);
  const list = join(dir, 'loaded.txt');
  const hooks = join(dir, 'hooks.mjs');
  await writeFile(hooks, `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) { appendFileSync(${JSON.stringify(list)}, url + '\\n'); return next(url, context); }\n`);
  const register = join(dir, 'register.mjs');
  await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);

  const child = spawn(process.execPath, ['--import', pathToFileURL(register).href, CLI, 'serve', '--port', '0', '--data-dir', join(dir, 'data')], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  const exit = once(child, 'exit');
  let url: string | undefined;
  for (const deadline = Date.now() + START_TIMEOUT_MS; !url && Date.now() < deadline && child.exitCode === null; ) {
    url = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1];
    if (!url) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  t.ok(url, 'amsd serve listens');
  const health = await fetch(`${url}/v1/health`);
  t.equal(health.status, 200, 'and answers');
  child.kill('SIGTERM');
  await exit;

  const loaded = (await readFile(list, 'utf8')).split('\n');
  const packageOf = (name: string) => loaded.filter((file) => file.includes(`/node_modules/${name}/`));
  t.ok(packageOf('fastify').length > 0, 'the hook sees the packages serve loads');
  for (const name of LOADED_ON_USE) t.same(packageOf(name), [], `${name} is not loaded`);
  t.same(loaded.filter((file) => /\/dist\/daemon\/(demo|simulated-tenant\/)/.test(file)), [], 'nor the demo and its simulated tenant');
});
