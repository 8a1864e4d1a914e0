/**
 * A webhook receiver whose error page echoes the request (as Express's "Cannot POST /path" does, and
 * debugging proxies do with headers) must not put a channel's own secrets in clear into queue.json,
 * audit.jsonl, or the answers of the channel test, the delivery list and the audit list (issue 11, item 7).
 */
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { auditLogPath } from '../../daemon/audit/audit-log.js';
import { queueFilePath } from '../../daemon/notifications/queue.js';
import { startReceiver, type ReceivedRequest } from '../notifications/fixtures.js';
import { registerTenant, simulatedTenantFor, startTestDaemon } from '../helpers.js';

const PATH_SECRET = 'T00000000/B11111111/XXXXsecretpathXXXX';
const QUERY_SECRET = 'sig=q-secret-8d7f6e5a&code=another-query-secret';
const HEADER_SECRET = 'receiver-token-7781-abcdef';
const SIGNING_SECRET = 'whsec-only-the-receiver-knows';

/** The error page of a careless receiver: the method, the path and query, every header, in several encodings. */
function echoPage(request: ReceivedRequest, status: number, response: import('node:http').ServerResponse) {
  const headers = Object.entries(request.headers).map(([name, value]) => `${name}: ${String(value)}`).join('\n');
  const page = [
    `<pre>Cannot ${request.method} ${request.url}</pre>`,
    `decoded: ${decodeURIComponent(request.url)}`,
    `json: ${JSON.stringify({ url: request.url, headers: request.headers })}`,
    `headers:\n${headers}`,
  ].join('\n');
  response.statusCode = status;
  response.setHeader('content-type', 'text/html');
  response.end(page);
}

t.test("a channel's secrets echoed by its receiver are redacted everywhere they are stored or shown", async (t) => {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 3 });
  const daemon = await startTestDaemon(t, undefined, { caFile, testing: { notificationBackoffMs: [20] } });
  await registerTenant(t, daemon, tenant);
  // 503 first (queued, retried: the error is kept in queue.json), then 404 (given up: audited, listed as failed).
  let answered = 0;
  const receiver = await startReceiver(t, (request, response) => echoPage(request, answered++ < 2 ? 503 : 404, response));
  const created = await daemon.call({
    method: 'POST',
    url: '/v1/notification-channels',
    body: {
      name: 'echoing receiver',
      kind: 'webhook',
      url: `${receiver.url}/services/${PATH_SECRET}?${QUERY_SECRET}`,
      headers: { Authorization: `Bearer ${HEADER_SECRET}`, 'X-Api-Key': HEADER_SECRET + '-2' },
      signingSecret: SIGNING_SECRET,
      bodyTemplate: '{"text": "{{Code}}"}',
    },
  });
  t.equal(created.statusCode, 201, created.body);
  const channelId = created.json().id;
  const secrets = [PATH_SECRET, encodeURIComponent(PATH_SECRET), 'XXXXsecretpathXXXX', QUERY_SECRET, 'q-secret-8d7f6e5a', 'another-query-secret', HEADER_SECRET, SIGNING_SECRET];
  const leaks = (what: string, text: string) => {
    for (const secret of secrets) t.notOk(text.includes(secret), `${what}: no ${secret}`);
  };

  const tested = await daemon.call({ method: 'POST', url: `/v1/notification-channels/${channelId}/test` });
  t.equal(tested.statusCode, 200);
  t.equal(tested.json().succeeded, false);
  t.match(tested.json().error, /answered 503/, 'the test answer still says what happened');
  t.match(tested.json().error, /Cannot POST/, 'and what the receiver said, with the secrets taken out');
  leaks('the channel test answer', tested.body);

  // A refused read tells the global failure channels through the queue.
  t.equal((await daemon.call({ method: 'PATCH', url: '/v1/service-config', body: { globalChannelsFailure: [channelId] } })).statusCode, 200);
  const refused = await daemon.call({ method: 'POST', url: '/v1/secrets/local-admin-password', body: { computerName: 'NO-SUCH-PC' } });
  t.equal(refused.statusCode, 404);

  let pending = '';
  for (let i = 0; i < 200 && !pending.includes('lastError'); i++) {
    pending = await readFile(queueFilePath(daemon.dataDir), 'utf8').catch(() => '');
    if (!pending.includes('lastError')) await new Promise((r) => setTimeout(r, 20));
  }
  t.match(pending, /lastError/, 'a failed attempt is kept in queue.json');
  leaks('queue.json while retrying', pending);

  let failed: { lastError?: string }[] = [];
  for (let i = 0; i < 200 && failed.length === 0; i++) {
    failed = (await daemon.call({ url: '/v1/notification-deliveries?status=failed' })).json().items;
    if (failed.length === 0) await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(failed.length, 1, 'the delivery finally failed');
  t.match(failed[0]!.lastError, /answered 404/);
  leaks('the delivery list', JSON.stringify(failed));
  leaks('queue.json', await readFile(queueFilePath(daemon.dataDir), 'utf8'));
  // The queue lists a delivery as failed once that is on disk, and audits it just after: wait for that, bounded.
  let auditList = await daemon.call({ url: '/v1/audit-events?type=notification.failed' });
  for (let i = 0; i < 200 && auditList.json().items.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
    auditList = await daemon.call({ url: '/v1/audit-events?type=notification.failed' });
  }
  t.equal(auditList.json().items.length, 1, 'the final failure is on the audit trail');
  leaks('the audit list', auditList.body);
  leaks('audit.jsonl', await readFile(auditLogPath(daemon.dataDir), 'utf8'));
  leaks('the log', daemon.logLines.join('\n'));
  t.ok(receiver.requests.length >= 3, 'the receiver did get the secrets (they are its own)');
  t.ok(receiver.requests.some((r) => r.url.includes(encodeURI(PATH_SECRET).replace(/%2F/gi, '/'))));
});
