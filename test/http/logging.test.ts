/**
 * Secrets planted in every place a request can carry them never reach the log, while every request
 * line carries its request id.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { censorSecrets, createLogger, redactUrl } from '../../daemon/logging.js';
import { startTestDaemon } from '../helpers.js';

t.test('keys, tokens and passwords never appear in the log', async (t) => {
  const d = await startTestDaemon(t);
  const created = (await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'planted', role: 'user' } })).json();
  const plantedPassword = 'Pl4nted-P@ssw0rd-9931';
  await d.call({ url: '/v1/me', key: created.key });
  await d.call({ url: '/v1/me', key: null, headers: { authorization: `Bearer ${plantedPassword}` } });
  await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'x', role: 'user', password: plantedPassword, clientSecret: plantedPassword } });
  await d.call({ url: `/v1/api-keys?key=${encodeURIComponent(created.key)}` });
  // Pasted where an id or a filter goes: Remove-AmsApiKey given the key it means to revoke.
  await d.call({ method: 'DELETE', url: `/v1/api-keys/${created.key}` });
  await d.call({ url: `/v1/devices?filter=${encodeURIComponent(`Bearer ${created.key}`)}` });
  const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiJwbGFudGVkLXRva2VuLTc3In0.c2lnbmF0dXJlLW9mLWEtcGxhbnRlZC10b2tlbg';
  await d.call({ method: 'POST', url: `/v1/tenants/${jwt}/test` });
  d.app.log.info({ headers: { authorization: `Bearer ${created.key}` }, body: { password: plantedPassword, clientSecret: plantedPassword } }, 'an object logged carelessly');

  t.ok(d.logLines.length > 10, 'the daemon logged');
  const log = d.logLines.join('\n');
  for (const secret of [d.adminKey, created.key, plantedPassword, jwt]) {
    t.notOk(log.includes(secret), `the log does not contain ${secret.slice(0, 6)}...`);
  }
  t.ok(log.includes('[redacted]'), 'the careless line was redacted rather than dropped');
});

t.test('a request is one access-log line with its request id, what was asked and how it was answered', async (t) => {
  const d = await startTestDaemon(t, undefined, { logLevel: 'info' });
  const res = await d.call({ url: '/v1/api-keys?status=active' });
  const id = String(res.headers['x-request-id']);
  type Line = { requestId?: string; msg: string; level: number; req?: { method: string; url: string }; res?: { statusCode: number }; responseTime?: number };
  const lines = d.logLines.map((l) => JSON.parse(l) as Line).filter((l) => l.requestId === id);
  t.same(lines.map((l) => l.msg), ['request completed']);
  t.match(lines[0], { level: 30, req: { method: 'GET', url: '/v1/api-keys?status=active' }, res: { statusCode: 200 } });
  t.type(lines[0]!.responseTime, 'number');
});

t.test('at debug level a request is also logged when it arrives', async (t) => {
  const d = await startTestDaemon(t, undefined, { logLevel: 'debug' });
  const res = await d.call({ url: '/v1/api-keys' });
  const id = String(res.headers['x-request-id']);
  const lines = d.logLines.map((l) => JSON.parse(l) as { requestId?: string; msg: string }).filter((l) => l.requestId === id);
  t.same(lines.map((l) => l.msg), ['incoming request', 'request completed']);
});

t.test('secret-named fields are censored at the top of a logged object and one level down, and nothing else is touched', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const logger = createLogger('info', sink);
  logger.info({ password: 'p1', apiKey: 'k1', user: 'alice', body: { clientSecret: 's1', name: 'app' }, headers: { authorization: 'Bearer x', cookie: 'c=1', accept: '*/*' } }, 'careless');
  logger.error({ err: Object.assign(new Error('token endpoint failed'), { secret: 's2', code: 'E1' }) }, 'failed');
  logger.info({ key: undefined, nested: { deeper: { password: 'visible two levels down' } }, count: 3 }, 'plain');
  const [careless, failed, plain] = lines.map((l) => JSON.parse(l) as Record<string, any>);
  t.match(careless, { password: '[redacted]', apiKey: '[redacted]', user: 'alice', body: { clientSecret: '[redacted]', name: 'app' }, headers: { authorization: '[redacted]', cookie: '[redacted]', accept: '*/*' } });
  t.match(failed!.err, { secret: '[redacted]', code: 'E1', message: 'token endpoint failed', type: 'Error' });
  t.ok(String(failed!.err.stack).includes('token endpoint failed'), 'the error keeps its stack');
  t.match(plain, { nested: { deeper: { password: 'visible two levels down' } }, count: 3 }, 'as deep as the paths pino was given before: two levels');
  t.notOk('key' in plain!, 'an undefined field stays out');
  const untouched = { a: 1, b: { c: 2 } };
  t.equal(censorSecrets(untouched), untouched, 'an object without secrets is not copied');
});

t.test('a logged URL loses every key and token in it, escaped or not, and is otherwise as sent', async (t) => {
  const key = 'ams_0123456789abcdefghij';
  t.equal(redactUrl('/v1/computer-authorization-rules/3f1c2d9e-1111-4222-8333-444455556666'), '/v1/computer-authorization-rules/3f1c2d9e-1111-4222-8333-444455556666');
  t.equal(redactUrl(`/v1/api-keys/${key}`), '/v1/api-keys/[redacted]');
  t.equal(redactUrl(`/v1/api-keys/${encodeURIComponent(key).replace('_', '%5F')}`), '/v1/api-keys/[redacted]', 'escaped');
  t.equal(redactUrl('/v1/tenants/eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiJ4In0.c2ln/test'), '/v1/tenants/[redacted]/test');
  t.equal(redactUrl('/v1/devices?filter=PC%2001&top=5'), '/v1/devices?filter=PC+01&top=5');
  t.equal(redactUrl(`/v1/devices?token=abc&name=${key}`), '/v1/devices?token=%5Bredacted%5D&name=%5Bredacted%5D');
});
