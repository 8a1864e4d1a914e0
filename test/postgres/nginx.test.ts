/**
 * Two real `amsd serve --database` daemons (over TLS) behind a real nginx running docs/nginx/amsd.conf,
 * with only its addresses, port and certificates replaced: requests through nginx reach both daemons;
 * the client address in the audit trail is the client's (nginx's X-Forwarded-For is honoured, a
 * client's own is not, and neither is one sent straight to a daemon from elsewhere); answers keep
 * `Cache-Control: no-store`; with one daemon killed, every request through nginx is still answered.
 * nginx runs in the foreground (`daemon off`) on a free loopback port. Needs /usr/sbin/nginx
 * (scripts/install-nginx.sh): fails in CI without it, skipped loudly elsewhere.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Agent, request } from 'undici';
import { createCertificateAuthority, issueServerCertificate } from '../../daemon/simulated-tenant/certificates.js';
import { packageRoot } from '../../openapi/package-root.js';
import { tempDir } from '../helpers.js';
import { needsPostgres, postgresClusterFor } from '../store/postgres/cluster.js';
import { pollUntil, startFleet, type ServeProcess } from './serve-processes.js';

const NGINX = process.env.AMS_TEST_NGINX ?? '/usr/sbin/nginx';
const TEMPLATE = join(packageRoot, 'docs', 'nginx', 'amsd.conf');
const postgres = postgresClusterFor(t);

/** The addresses the test's clients send from (all loopback): through nginx, and straight to a daemon. */
const CLIENT = '127.0.0.3';
const ELSEWHERE = '127.0.0.4';
const FORGED = '203.0.113.9';

function needsNginx(root: Test): { skip: string | false } {
  const missing = existsSync(NGINX) ? undefined : `nginx is missing (no ${NGINX}): run scripts/install-nginx.sh`;
  if (missing) {
    if (process.env.CI) root.fail(missing);
    else console.error(`\n*** ${missing}. The nginx test is SKIPPED. ***\n`);
  }
  const postgresSkip = needsPostgres(root).skip;
  return { skip: missing ?? postgresSkip };
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** docs/nginx/amsd.conf with this test's values: every replaced line must be found exactly once, so the doc cannot drift from what is tested. */
function configFromTemplate(values: { daemons: [string, string]; port: number; certificate: string; key: string; upstreamCa: string }): string {
  let text = readFileSync(TEMPLATE, 'utf8');
  const replace = (pattern: RegExp, by: string) => {
    const found = text.match(new RegExp(pattern.source, 'gm'))?.length ?? 0;
    if (found !== 1) throw new Error(`docs/nginx/amsd.conf: ${pattern} is there ${found} times, not once: keep the test and the doc together`);
    text = text.replace(new RegExp(pattern.source, 'm'), by);
  };
  replace(/server 10\.0\.0\.11:8443 /, `server ${values.daemons[0]} `);
  replace(/server 10\.0\.0\.12:8443 /, `server ${values.daemons[1]} `);
  replace(/listen 443 ssl;/, `listen 127.0.0.1:${values.port} ssl;`);
  replace(/ssl_certificate +\S+;/, `ssl_certificate ${values.certificate};`);
  replace(/ssl_certificate_key \S+;/, `ssl_certificate_key ${values.key};`);
  replace(/proxy_ssl_trusted_certificate \S+;/, `proxy_ssl_trusted_certificate ${values.upstreamCa};`);
  return text;
}

/** nginx in the foreground on the generated config; resolves once its port accepts connections. */
async function startNginx(t: Test, dir: string, siteConfig: string, port: number): Promise<{ errors: () => string }> {
  await writeFile(join(dir, 'amsd.conf'), siteConfig);
  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  await writeFile(
    join(dir, 'nginx.conf'),
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} warn;`,
      'events { worker_connections 128; }',
      'http {',
      `  access_log ${join(dir, 'access.log')};`,
      `  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}`,
      `  include ${join(dir, 'amsd.conf')};`,
      '}',
    ].join('\n'),
  );
  const child = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = once(child, 'exit');
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGQUIT'); // graceful: its workers go with it
      await exited;
    }
  });
  const errors = () => output + (existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '');
  await pollUntil('nginx accepts connections', 15_000, async () => {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${errors()}`);
    return new Promise<true | undefined>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
      socket.on('error', () => resolve(undefined));
    });
  });
  if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${errors()}`);
  return { errors };
}

t.test('two daemons behind nginx with docs/nginx/amsd.conf', needsNginx(t), async (t) => {
  const dir = await tempDir(t, 'amsd-nginx-');
  // One CA for both sides: the certificate clients see (localhost), and the daemons' (amsd.internal, as nginx checks them).
  const ca = await createCertificateAuthority('amsd nginx test CA');
  const front = await issueServerCertificate(ca, { dns: ['localhost'], ip: ['127.0.0.1'] });
  const back = await issueServerCertificate(ca, { dns: ['amsd.internal'], ip: ['127.0.0.1'] });
  const file = async (name: string, text: string) => {
    await writeFile(join(dir, name), text, { mode: 0o600 });
    return join(dir, name);
  };
  const caFile = await file('ca.crt', ca.certificatePem);
  const tls = { frontCrt: await file('front.crt', front.certificatePem), frontKey: await file('front.key', front.privateKeyPem), backCrt: await file('back.crt', back.certificatePem), backKey: await file('back.key', back.privateKeyPem) };

  const fleet = await startFleet(t, await postgres.database(), 2, { extraArgs: ['--tls-cert', tls.backCrt, '--tls-key', tls.backKey] });
  const [a, b] = fleet.daemons as [ServeProcess, ServeProcess];
  // Straight to the daemons (the test's own checks): trusting the CA, from an address nginx does not use.
  const direct = new Agent({ localAddress: ELSEWHERE, connect: { ca: ca.certificatePem } });
  const viaNginx = new Agent({ localAddress: CLIENT, connect: { ca: ca.certificatePem, servername: 'localhost' } });
  t.teardown(async () => {
    await direct.close();
    await viaNginx.close();
  });
  const send = async (dispatcher: Agent, url: string, method: 'GET' | 'POST' | 'PATCH', path: string, options: { body?: unknown; headers?: Record<string, string> } = {}) => {
    const response = await request(url + path, {
      dispatcher,
      method,
      headers: { authorization: `Bearer ${fleet.adminKey}`, ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const text = await response.body.text();
    return { status: response.statusCode, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  };

  // nginx is the only trusted proxy (it reaches the daemons from 127.0.0.1); set through A, in force on B.
  const patched = await send(direct, a.url, 'PATCH', '/v1/service-config', { body: { trustedProxies: ['127.0.0.1'] } });
  t.equal(patched.status, 200, 'trustedProxies set to nginx\'s address');
  await pollUntil('B trusts nginx too', 5_000, async () => ((await send(direct, b.url, 'GET', '/v1/service-config')).body.trustedProxies?.[0] === '127.0.0.1' ? true : undefined));

  const port = await freePort();
  const nginx = await startNginx(t, await mkdirIn(dir, 'nginx'), configFromTemplate({ daemons: [new URL(a.url).host, new URL(b.url).host], port, certificate: tls.frontCrt, key: tls.frontKey, upstreamCa: caFile }), port);
  // To 127.0.0.1, checking nginx's certificate for localhost (the Agent's servername).
  const through = (method: 'GET' | 'POST', path: string, options: { body?: unknown; headers?: Record<string, string> } = {}) => send(viaNginx, `https://127.0.0.1:${port}`, method, path, options);

  // Refused secret reads (no tenant is registered): each is audited, with the address the daemon believed.
  const READS = 12;
  for (let i = 0; i < READS; i++) {
    const answer = await through('POST', '/v1/secrets/local-admin-password', { body: { computerName: 'PC-1', reason: 'nginx test' }, headers: { 'x-request-id': `via-nginx-${i}`, 'x-forwarded-for': FORGED } });
    t.ok(answer.status >= 400 && answer.status < 500, `read ${i} through nginx is refused, as without a tenant (${answer.status})${answer.status >= 500 ? nginx.errors() : ''}`);
  }
  // Which daemon answered each: its access-log line (written as the answer goes out, so waited for).
  const served = (daemon: ServeProcess) => Array.from({ length: READS }, (_, i) => i).filter((i) => daemon.stdout().includes(`"requestId":"via-nginx-${i}"`));
  await pollUntil('every read is in a daemon\'s access log', 5_000, async () => (served(a).length + served(b).length >= READS ? true : undefined)).catch(() => undefined);
  const [byA, byB] = [served(a), served(b)];
  t.ok(byA.length > 0 && byB.length > 0, `requests through nginx reach both daemons (A answered ${byA.length}, B ${byB.length})`);
  t.equal(byA.length + byB.length, READS, 'each request reached exactly one daemon');

  const readEvents = async (daemon: ServeProcess) => ((await send(direct, daemon.url, 'GET', '/v1/audit-events?type=secret.read&top=100')).body.items ?? []) as { requestId?: string; ip?: string }[];
  for (const [name, daemon] of [['A', a], ['B', b]] as const) {
    const ips = new Set((await readEvents(daemon)).filter((e) => e.requestId?.startsWith('via-nginx-')).map((e) => e.ip));
    t.same([...ips], [CLIENT], `${name}'s audit trail has the client's address from nginx's X-Forwarded-For, not nginx's and not the one the client forged`);
  }
  const straight = await send(direct, a.url, 'POST', '/v1/secrets/local-admin-password', { body: { computerName: 'PC-1', reason: 'nginx test' }, headers: { 'x-request-id': 'straight-1', 'x-forwarded-for': FORGED } });
  t.ok(straight.status >= 400 && straight.status < 500, 'a read sent straight to A is refused as well');
  t.equal((await readEvents(a)).find((e) => e.requestId === 'straight-1')?.ip, ELSEWHERE, 'X-Forwarded-For from anyone but nginx is not believed');

  const created = await through('POST', '/v1/api-keys', { body: { name: 'through nginx', role: 'user' } });
  t.equal(created.status, 201, 'an API key made through nginx');
  t.equal(created.headers['cache-control'], 'no-store', 'its answer (the key) keeps Cache-Control: no-store through nginx');

  // One daemon dies: nginx sends every request to the other.
  await a.kill();
  const after: number[] = [];
  for (let i = 0; i < 10; i++) {
    after.push((await through('GET', '/v1/me')).status);
    after.push((await through('POST', '/v1/secrets/local-admin-password', { body: { computerName: 'PC-1' }, headers: { 'x-request-id': `after-kill-${i}` } })).status);
  }
  const failed = after.filter((status) => status >= 500);
  t.same(failed, [], `with A killed, all ${after.length} requests through nginx are answered${failed.length ? `; nginx said: ${nginx.errors().slice(-2000)}` : ''}`);
  const byBAfter = () => Array.from({ length: 10 }, (_, i) => i).filter((i) => b.stdout().includes(`"requestId":"after-kill-${i}"`)).length;
  await pollUntil('B logged them', 5_000, async () => (byBAfter() === 10 ? true : undefined)).catch(() => undefined);
  t.equal(byBAfter(), 10, 'B answered them');
});

async function mkdirIn(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(path);
  return path;
}
