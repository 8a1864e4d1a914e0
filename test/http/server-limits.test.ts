/**
 * The HTTP server itself, over a real socket: what Node and Fastify refuse before a route runs is
 * problem+json too (issue 11, item 5), and slow or greedy clients are cut off while others keep being
 * served (item 13). Timeouts are made short for the test; nothing here measures time.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { openDaemon } from '../../daemon/daemon.js';
import type { ServerLimits } from '../../daemon/http/connection-errors.js';
import { createLogger } from '../../daemon/logging.js';
import { createCertificateAuthority, issueServerCertificate } from '../../daemon/simulated-tenant/certificates.js';
import { startTestDaemon, type TestContext } from '../helpers.js';

const PROBLEM = 'application/problem+json; charset=utf-8';

async function listening(t: TestContext, serverLimits: Partial<ServerLimits> = {}) {
  const daemon = await startTestDaemon(t, undefined, { serverLimits });
  await daemon.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = daemon.app.server.address() as { port: number };
  return { daemon, port };
}

/** Sends raw bytes and collects everything the server answers until it closes the connection. */
async function raw(port: number, bytes: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(bytes);
  return readAnswer(socket);
}

async function readAnswer(socket: Socket): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  await Promise.race([once(socket, 'close'), once(socket, 'end')]);
  socket.destroy();
  const [head = '', body = ''] = text.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

function isProblem(t: TestContext, answer: { status: number; headers: Record<string, string>; body: string }, status: number, what: string) {
  t.equal(answer.status, status, `${what}: ${status}`);
  t.equal(answer.headers['content-type'], PROBLEM, `${what}: problem+json`);
  let problem: Record<string, unknown> = {};
  try {
    problem = JSON.parse(answer.body);
  } catch {
    t.fail(`${what}: the body is JSON (${answer.body})`);
  }
  t.match(problem, { type: /^urn:amsd:problem:/, status, detail: /\S/, requestId: /\S/ }, `${what}: a problem with a detail`);
}

t.test("Node's and Fastify's own refusals are problem+json", async (t) => {
  const { port } = await listening(t);
  isProblem(t, await raw(port, 'GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ' + 'a'.repeat(20_000) + '\r\n\r\n'), 431, 'headers too large');
  isProblem(t, await raw(port, `GET /v1/health?${'q'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`), 431, 'a URL too long for the header limit');
  isProblem(t, await raw(port, `DELETE /v1/api-keys/${'a'.repeat(150)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`), 414, 'a path segment too long');
  isProblem(t, await raw(port, 'GET /v1/api-keys/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 400, 'a bad percent-encoding in the path');
  isProblem(t, await raw(port, 'GET /v1/health HTTP/1.1\r\nHost x\r\n\r\n'), 400, 'malformed HTTP');
  isProblem(t, await raw(port, 'NOT-A-METHOD / HTTP/1.1\r\n\r\n'), 400, 'an unknown method');
  isProblem(t, await raw(port, 'POST /v1/secrets/local-admin-password HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'), 400, 'an empty body without Host');
  const ok = await raw(port, 'GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.equal(ok.status, 200, 'and a good request is served');
});

t.test('slow and idle clients are cut off; others keep being served', async (t) => {
  const { daemon, port } = await listening(t, { headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 300, timeoutCheckIntervalMs: 50, maxConnections: 8 });

  // Slow body: headers at once (authenticated, so the body is waited for), then a byte at a time.
  const slowBody = connect(port, '127.0.0.1');
  await once(slowBody, 'connect');
  slowBody.write(`POST /v1/api-keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${daemon.adminKey}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`);
  const drip = setInterval(() => slowBody.writable && slowBody.write(' '), 100);
  t.teardown(() => clearInterval(drip));
  // Slow headers: a header line at a time.
  const slowHeaders = connect(port, '127.0.0.1');
  await once(slowHeaders, 'connect');
  slowHeaders.write('GET /v1/health HTTP/1.1\r\n');
  const dripHeaders = setInterval(() => slowHeaders.writable && slowHeaders.write('X-A: b\r\n'), 100);
  t.teardown(() => clearInterval(dripHeaders));
  // Silent: connects and sends nothing.
  const silent = connect(port, '127.0.0.1');
  await once(silent, 'connect');

  // While they hold their connections, a normal client is served.
  const served = await fetch(`http://127.0.0.1:${port}/v1/health`);
  t.equal(served.status, 200, 'a normal request is served meanwhile');

  isProblem(t, await readAnswer(slowBody), 408, 'a body sent a byte at a time');
  isProblem(t, await readAnswer(slowHeaders), 408, 'headers sent a line at a time');
  const silentAnswer = await readAnswer(silent);
  t.ok(silentAnswer.status === 408 || silentAnswer.body === '', 'a silent connection is closed');

  // Keep-alive: an idle connection is closed once its keep-alive time is over.
  const idle = connect(port, '127.0.0.1');
  await once(idle, 'connect');
  idle.write('GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n');
  let text = '';
  idle.setEncoding('utf8');
  idle.on('data', (c: string) => (text += c));
  await once(idle, 'end');
  t.match(text, /^HTTP\/1\.1 200/, 'the idle connection had its answer, then was closed');
  idle.destroy();
  t.equal((await fetch(`http://127.0.0.1:${port}/v1/health`)).status, 200, 'still serving');
});

t.test('connections past the cap are closed; when the greedy ones are cut, others are served', async (t) => {
  const { port } = await listening(t, { headersTimeoutMs: 400, requestTimeoutMs: 400, timeoutCheckIntervalMs: 50, maxConnections: 4 });
  const greedy: Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /v1/health HTTP/1.1\r\n'); // and never finishes
    socket.resume(); // read what the server sends, so that its close is seen
    greedy.push(socket);
  }
  const closedAll = Promise.all(greedy.map((s) => once(s, 'close')));
  const extra = connect(port, '127.0.0.1');
  extra.on('error', () => undefined);
  await once(extra, 'close');
  t.pass('a fifth connection is closed at once');
  await closedAll;
  t.pass('the greedy connections are cut off by the header timeout');
  t.equal((await fetch(`http://127.0.0.1:${port}/v1/health`)).status, 200, 'and the daemon serves again');
});

t.test('over HTTPS, a client that never finishes the TLS handshake is cut off too', async (t) => {
  const ca = await createCertificateAuthority('amsd test CA');
  const server = await issueServerCertificate(ca);
  const daemon = await startTestDaemon(t, undefined, { serverLimits: { headersTimeoutMs: 300, requestTimeoutMs: 300, timeoutCheckIntervalMs: 50 } });
  await daemon.app.close();
  const tls = await openDaemon({ dataDir: daemon.dataDir, logger: createLogger('silent'), https: { cert: Buffer.from(server.certificatePem), key: Buffer.from(server.privateKeyPem) }, serverLimits: { headersTimeoutMs: 300, requestTimeoutMs: 300, timeoutCheckIntervalMs: 50 } });
  t.teardown(() => tls.app.close());
  await tls.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = tls.app.server.address() as { port: number };
  const silent = connect(port, '127.0.0.1');
  silent.on('error', () => undefined);
  await once(silent, 'connect');
  silent.write(Buffer.from([0x16, 0x03, 0x01])); // the first bytes of a ClientHello, and no more
  silent.resume();
  // Node's own default would close it after 120 s; waiting 60 times the configured limit tells the two apart.
  const closed = await Promise.race([once(silent, 'close').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20_000).unref())]);
  silent.destroy();
  t.ok(closed, 'the half-open handshake was closed by the configured limit');
});
