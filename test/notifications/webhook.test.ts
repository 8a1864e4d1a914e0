/**
 * Webhook deliveries, received by a local HTTP server that checks them as a receiver would.
 */
import t from 'tap';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { WebhookChannelRecord } from '../../daemon/store/records.js';
import { deliver, signWebhookBody, verifyWebhookSignature } from '../../daemon/notifications/deliver.js';
import { HOSTILE, channel, closedPort, event, sealer, startReceiver } from './fixtures.js';

const SECRET = 'whsec-test-0123456789';
const BODY = '{"reason": "{{Reason}}", "computer": "{{ComputerName}}", "user": "{{Username}}", "ok": {{IsSuccess}}, "rule": "{{MatchedRuleDescription}}"}';

/** The documented scheme, computed independently of amsd's own helper. */
function receiverAccepts(secret: string, headers: Record<string, string | string[] | undefined>, body: string): boolean {
  const timestamp = String(headers['x-ams-timestamp']);
  const expected = Buffer.from('sha256=' + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex'));
  const given = Buffer.from(String(headers['x-ams-signature']));
  return Math.abs(Date.now() / 1000 - Number(timestamp)) <= 300 && expected.length === given.length && timingSafeEqual(expected, given);
}

t.test('a signed webhook arrives with its headers and an escaped body', async (t) => {
  const receiver = await startReceiver(t);
  const hook = channel({
    name: 'hook',
    kind: 'webhook',
    url: `${receiver.url}/hooks/secret-path?key=1`,
    headers: { Authorization: 'Bearer header-token', 'X-Team': 'soc' },
    bodyTemplate: BODY,
    signingSecret: SECRET,
  });
  const result = await deliver(hook, event(), { sealer, extra: { ruleDescription: 'Helpdesk "all"' }, deliveryId: 'delivery-1' });
  t.same(result, { ok: true });
  t.equal(receiver.requests.length, 1);
  const request = receiver.requests[0]!;
  t.equal(request.method, 'POST');
  t.equal(request.url, '/hooks/secret-path?key=1');
  t.equal(request.headers['content-type'], 'application/json');
  t.equal(request.headers.authorization, 'Bearer header-token');
  t.equal(request.headers['x-team'], 'soc');
  t.equal(request.headers['x-ams-delivery-id'], 'delivery-1');
  t.match(request.headers['x-ams-signature'], /^sha256=[0-9a-f]{64}$/);
  t.ok(receiverAccepts(SECRET, request.headers, request.body), 'the signature verifies with the documented scheme');
  t.notOk(receiverAccepts('another secret', request.headers, request.body), 'not with another secret');
  t.notOk(receiverAccepts(SECRET, request.headers, request.body.replace('alice', 'mallory')), 'not for another body');
  t.ok(verifyWebhookSignature(SECRET, { timestamp: String(request.headers['x-ams-timestamp']), signature: String(request.headers['x-ams-signature']), body: request.body }));
  t.notOk(
    verifyWebhookSignature(SECRET, { timestamp: String(request.headers['x-ams-timestamp']), signature: String(request.headers['x-ams-signature']), body: request.body }, { now: Date.now() + 600_000 }),
    'a replay ten minutes later is refused',
  );

  const body = JSON.parse(request.body);
  t.same(body, { reason: HOSTILE, computer: 'PC-"007"\\</script>', user: 'alice@contoso.example', ok: true, rule: 'Helpdesk "all"' }, 'valid JSON; every value exactly as it was');
  t.notMatch(request.body, /<\/script>/i, 'no raw </script>');
});

t.test('signing is the documented HMAC of "<timestamp>.<body>"', async (t) => {
  t.equal(signWebhookBody('key', 1777626000, '{"a":1}'), 'sha256=' + createHmac('sha256', 'key').update('1777626000.{"a":1}').digest('hex'));
});

t.test('PUT, another content type, and no signature without a secret', async (t) => {
  const receiver = await startReceiver(t, () => 200);
  const hook = channel({ name: 'put', kind: 'webhook', url: `${receiver.url}/put`, method: 'PUT', contentType: 'application/vnd.example+json; charset=utf-8' });
  t.same(await deliver(hook, event(), { sealer }), { ok: true });
  const request = receiver.requests[0]!;
  t.equal(request.method, 'PUT');
  t.equal(request.headers['content-type'], 'application/vnd.example+json; charset=utf-8');
  t.notOk(request.headers['x-ams-signature']);
  t.match(JSON.parse(request.body), { code: 'Success', eventId: 3001, computer: { name: 'PC-"007"\\</script>' } }, 'the default body');
});

t.test('failures: what may be retried and what may not, never naming the URL path', async (t) => {
  let status = 500;
  const receiver = await startReceiver(t, () => status);
  const hook = channel({ name: 'hook', kind: 'webhook', url: `${receiver.url}/services/T000/B000/SECRETPATH` });
  const cases: [number, boolean][] = [[500, true], [503, true], [429, true], [408, true], [400, false], [401, false], [404, false], [301, false]];
  for (const [code, retryable] of cases) {
    status = code;
    const result = await deliver(hook, event(), { sealer });
    t.match(result, { ok: false, retryable, error: new RegExp(`answered ${code}`) }, `${code}: retryable ${retryable}`);
    t.notMatch(JSON.stringify(result), 'SECRETPATH');
  }

  const refused = channel({ name: 'down', kind: 'webhook', url: `http://127.0.0.1:${await closedPort()}/SECRETPATH` });
  const down = await deliver(refused, event(), { sealer });
  t.match(down, { ok: false, retryable: true, error: /could not reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/ });
  t.notMatch(JSON.stringify(down), 'SECRETPATH');
});

t.test('a receiver that never answers is given up on at the time limit', async (t) => {
  const sockets = new Set<import('node:net').Socket>();
  const silent = createServer((socket) => void sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => silent.close(() => resolve()));
  });
  const hook = channel({ name: 'slow', kind: 'webhook', url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/` });
  const started = Date.now();
  const result = await deliver(hook, event(), { sealer, timeoutMs: 300 });
  t.match(result, { ok: false, retryable: true, error: /did not answer within 300 ms/ });
  t.ok(Date.now() - started < 5000, 'did not wait much longer than the limit');
});

t.test('a sealed value that no longer opens is a clear, final failure', async (t) => {
  const hook = channel({ name: 'hook', kind: 'webhook', url: 'https://example.com/' }) as WebhookChannelRecord;
  const other = channel({ name: 'other', kind: 'webhook', url: 'https://example.com/' }) as WebhookChannelRecord;
  const broken: WebhookChannelRecord = { ...hook, sealedUrl: other.sealedUrl };
  t.match(await deliver(broken, event(), { sealer }), { ok: false, retryable: false, error: /cannot be used/ });
});
