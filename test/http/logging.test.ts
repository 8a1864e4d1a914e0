/**
 * Secrets planted in every place a request can carry them never reach the log, while every request
 * line carries its request id.
 */
import t from 'tap';
import { startTestDaemon } from '../helpers.js';

t.test('keys, tokens and passwords never appear in the log', async (t) => {
  const d = await startTestDaemon(t);
  const created = (await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'planted', role: 'user' } })).json();
  const plantedPassword = 'Pl4nted-P@ssw0rd-9931';
  await d.call({ url: '/v1/me', key: created.key });
  await d.call({ url: '/v1/me', key: null, headers: { authorization: `Bearer ${plantedPassword}` } });
  await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'x', role: 'user', password: plantedPassword, clientSecret: plantedPassword } });
  await d.call({ url: `/v1/api-keys?key=${encodeURIComponent(created.key)}` });
  d.app.log.info({ headers: { authorization: `Bearer ${created.key}` }, body: { password: plantedPassword, clientSecret: plantedPassword } }, 'an object logged carelessly');

  t.ok(d.logLines.length > 10, 'the daemon logged');
  const log = d.logLines.join('\n');
  for (const secret of [d.adminKey, created.key, plantedPassword]) {
    t.notOk(log.includes(secret), `the log does not contain ${secret.slice(0, 6)}...`);
  }
  t.ok(log.includes('[redacted]'), 'the careless line was redacted rather than dropped');
});

t.test('every request log line has the request id', async (t) => {
  const d = await startTestDaemon(t);
  const res = await d.call({ url: '/v1/api-keys' });
  const id = String(res.headers['x-request-id']);
  const lines = d.logLines.map((l) => JSON.parse(l) as { requestId?: string; msg: string }).filter((l) => l.requestId === id);
  t.same(lines.map((l) => l.msg), ['incoming request', 'request completed']);
});
