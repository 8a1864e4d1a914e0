/**
 * `amsd serve` as an administrator runs it: the compiled CLI in a real process on a free loopback
 * port. Needs `npm run build` first (npm test does it).
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { packageRoot } from '../../openapi/package-root.js';
import { tempDir } from '../helpers.js';

const CLI = join(packageRoot, 'dist', 'daemon', 'cli.js');
const START_TIMEOUT_MS = 15_000;

interface Running {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return { child, exit, stdout: () => stdout, stderr: () => stderr };
}

/** Starts `amsd serve` on port 0 and resolves once it listens (or rejects with what it said). */
async function serve(t: Test, dataDir: string, extra: string[] = []): Promise<Running> {
  const proc = run(['serve', '--port', '0', '--data-dir', dataDir, ...extra]);
  t.teardown(() => {
    if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const listening = /Server listening at (https?:\/\/127\.0\.0\.1:\d+)/.exec(proc.stdout());
    if (listening) return { child: proc.child, url: listening[1]!, stderr: proc.stderr, exit: proc.exit };
    if (proc.child.exitCode !== null) throw new Error(`amsd exited ${proc.child.exitCode}: ${proc.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`amsd did not listen within ${START_TIMEOUT_MS} ms: ${proc.stderr()}`);
}

/** The banner's line that matches, once it is printed (the log says "listening" a moment before). */
async function bannerLine(daemon: Running, pattern: RegExp): Promise<string | undefined> {
  for (let i = 0; i < 400 && !/Data dir:/.test(daemon.stderr()); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  return pattern.exec(daemon.stderr())?.[0].trim();
}

t.test('a first start on a port in use writes nothing and suggests --port', async (t) => {
  const dataDir = join(await tempDir(t), 'data');
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen({ host: '127.0.0.1', port: 0 }, resolve));
  t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const port = (taken.address() as AddressInfo).port;

  const refused = run(['serve', '--port', String(port), '--data-dir', dataDir]);
  t.equal(await refused.exit, 1);
  t.equal(refused.stderr(), `amsd: port ${port} is in use on 127.0.0.1; choose another with --port (0 picks a free one)\n`);
  t.notOk(existsSync(dataDir), 'no data directory, no admin key, no master key was written');

  const first = await serve(t, dataDir);
  t.equal(await bannerLine(first, /Admin key: .*/), `Admin key:    written to ${join(dataDir, 'bootstrap-admin.key')} (first start; keep it safe, then delete the file)`);
  first.child.kill('SIGTERM');
  t.equal(await first.exit, 0);
});

t.test('--help explains every option', async (t) => {
  const top = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
  t.equal(top.status, 0);
  t.match(top.stdout, /serve/);
  const help = spawnSync(process.execPath, [CLI, 'serve', '--help'], { encoding: 'utf8' });
  t.equal(help.status, 0);
  for (const option of ['--host', '--port', '--data-dir', '--tls-cert', '--tls-key', '--log-level', 'AMS_DATA_DIR', 'AMS_MASTER_KEY_FILE']) {
    t.match(help.stdout, option, `explains ${option}`);
  }
  t.match(help.stdout, /default:\s+"127\.0\.0\.1"/, 'loopback by default');
  const bad = spawnSync(process.execPath, [CLI, 'serve', '--port', 'eighty'], { encoding: 'utf8' });
  t.not(bad.status, 0);
  t.match(bad.stderr, /whole number from 0 to 65535/);
});

t.test('first start, restart with every key kept, one daemon per data dir, clean stop', async (t) => {
  const dataDir = join(await tempDir(t), 'data');
  const first = await serve(t, dataDir);
  // The banner follows the log's "listening" line: waited for, as bannerLine does.
  t.match(await bannerLine(first, /Swagger UI: +http:\/\/127\.0\.0\.1:\d+\/docs/), /Swagger UI/, 'prints where Swagger UI is');
  t.match(await bannerLine(first, new RegExp(`Admin key: +written to ${join(dataDir, 'bootstrap-admin.key')}`)), /Admin key/, 'and where the admin key is');

  const health = await fetch(`${first.url}/v1/health`);
  t.same(await health.json(), { status: 'ok', version: JSON.parse(await readFile(join(packageRoot, 'package.json'), 'utf8')).version });

  const keyFile = join(dataDir, 'bootstrap-admin.key');
  t.equal((await stat(keyFile)).mode & 0o777, 0o600, 'the bootstrap key is readable by its owner only');
  const adminKey = (await readFile(keyFile, 'utf8')).trim();
  const created = await fetch(`${first.url}/v1/api-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'survivor', role: 'user' }),
  });
  t.equal(created.status, 201);
  const userKey = ((await created.json()) as { key: string }).key;

  const second = run(['serve', '--port', '0', '--data-dir', dataDir]);
  t.equal(await second.exit, 1, 'a second daemon on the same data dir exits 1');
  t.match(second.stderr(), new RegExp(`Another amsd \\(pid ${first.child.pid} .*is using the data directory ${dataDir}`));
  t.equal((await fetch(`${first.url}/v1/health`)).status, 200, 'and the first one keeps serving');

  first.child.kill('SIGTERM');
  t.equal(await first.exit, 0, 'SIGTERM stops it with exit code 0');
  t.notOk(existsSync(join(dataDir, 'amsd.lock')), 'the lock is released');

  const again = await serve(t, dataDir);
  const keyLine = await bannerLine(again, /Admin key: .*/);
  t.equal(keyLine, `Admin key:    in ${keyFile} (written on the first start; keep it safe, then delete the file)`, 'a restart still says where the admin key is, and makes no new one');
  t.equal((await readFile(keyFile, 'utf8')).trim(), adminKey);
  const me = await fetch(`${again.url}/v1/me`, { headers: { authorization: `Bearer ${userKey}` } });
  t.equal(me.status, 200, 'the key created before the restart still works');
  t.equal(((await me.json()) as { displayName: string }).displayName, 'survivor');
  again.child.kill('SIGINT');
  t.equal(await again.exit, 0, 'SIGINT too');
});

t.test('a corrupt data file is refused with a message naming it, and left as it was', async (t) => {
  const dataDir = join(await tempDir(t), 'data');
  const first = await serve(t, dataDir);
  first.child.kill('SIGTERM');
  await first.exit;
  const file = join(dataDir, 'amsd.json');
  const corrupt = (await readFile(file, 'utf8')).slice(0, 40);
  await writeFile(file, corrupt);

  const refused = run(['serve', '--port', '0', '--data-dir', dataDir]);
  t.equal(await refused.exit, 1);
  t.match(refused.stderr(), new RegExp(`amsd: The data file ${file} cannot be used: it is not valid JSON`));
  t.equal(await readFile(file, 'utf8'), corrupt, 'not reset, not overwritten');
  t.notOk(existsSync(join(dataDir, 'amsd.lock')), 'the refused start leaves no lock behind');
});

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

t.test('serves HTTPS with --tls-cert and --tls-key', { skip: hasOpenssl ? false : 'openssl is needed to make a test certificate' }, async (t) => {
  const dir = await tempDir(t);
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const openssl = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert], { encoding: 'utf8' });
  t.equal(openssl.status, 0, `openssl made a test certificate ${openssl.stderr}`);
  const daemon = await serve(t, join(dir, 'data'), ['--tls-cert', cert, '--tls-key', key]);
  t.match(daemon.url, /^https:/);
  const { request } = await import('node:https');
  const body = await new Promise<string>((resolve, reject) => {
    request(`${daemon.url}/v1/health`, { ca: [readFileSync(cert, 'utf8')] }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve(text));
    }).on('error', reject).end();
  });
  t.match(JSON.parse(body), { status: 'ok' });
  daemon.child.kill('SIGTERM');
  t.equal(await daemon.exit, 0);

  const half = run(['serve', '--port', '0', '--data-dir', join(dir, 'data'), '--tls-cert', cert]);
  t.equal(await half.exit, 1);
  t.match(half.stderr(), /--tls-cert and --tls-key go together/);
});
