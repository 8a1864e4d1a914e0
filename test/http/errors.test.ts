/**
 * Every bad request gets a 4xx problem+json that says what to fix, and the daemon keeps serving.
 */
import t from 'tap';
import { assertMatchesSpec, startTestDaemon } from '../helpers.js';

const PROBLEM = 'application/problem+json; charset=utf-8';

t.test('validation failures list every failing field', async (t) => {
  const d = await startTestDaemon(t);
  const res = await d.call({ method: 'POST', url: '/v1/api-keys', body: { role: 'owner', tenantId: 'tenant-1', nmae: 'typo', expiresAt: 'tomorrow' } });
  t.equal(res.statusCode, 400);
  t.equal(res.headers['content-type'], PROBLEM);
  assertMatchesSpec(t, res, 'createApiKey');
  const problem = res.json();
  t.equal(problem.type, 'urn:amsd:problem:validation-failed');
  t.equal(problem.instance, '/v1/api-keys');
  t.equal(problem.requestId, res.headers['x-request-id']);
  t.same(
    problem.errors.map((e: { path: string }) => e.path).sort(),
    ['body/expiresAt', 'body/name', 'body/nmae', 'body/role', 'body/tenantId'],
  );
  t.match(problem.detail, /body\/role must be one of: admin, user/);
  t.match(problem.detail, /body\/nmae is not a known field/);
  t.match(problem.detail, /body\/expiresAt must be a valid date-time \(RFC 3339/);

  const query = await d.call({ url: '/v1/api-keys?status=lost&stauts=active' });
  t.equal(query.statusCode, 400);
  t.same(query.json().errors.map((e: { path: string }) => e.path).sort(), ['query/status', 'query/stauts'], 'a misspelt filter is refused, not ignored');
});

t.test('unknown routes, wrong methods, bodies too large or not JSON', async (t) => {
  const d = await startTestDaemon(t);
  const missing = await d.call({ url: '/v1/passwords' });
  t.equal(missing.statusCode, 404);
  t.equal(missing.headers['content-type'], PROBLEM);
  t.match(missing.json().detail, /no \/v1\/passwords.*\/openapi\.json/);

  const wrongMethod = await d.call({ method: 'PATCH', url: '/v1/api-keys' });
  t.equal(wrongMethod.statusCode, 405);
  t.equal(wrongMethod.headers.allow, 'GET, POST, HEAD');
  t.match(wrongMethod.json().detail, /does not support PATCH; it supports GET, POST/);
  const wrongMethodOnId = await d.call({ method: 'GET', url: '/v1/api-keys/00000000-0000-4000-8000-000000000000' });
  t.equal(wrongMethodOnId.statusCode, 405, 'a path with a parameter is recognised too');

  const big = await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'x'.repeat(2 * 1024 * 1024), role: 'user' } });
  t.equal(big.statusCode, 413);
  t.equal(big.headers['content-type'], PROBLEM);
  t.match(big.json().detail, /larger than the daemon accepts/);

  const text = await d.call({ method: 'POST', url: '/v1/api-keys', body: 'name=x', headers: { 'content-type': 'text/plain' } });
  t.equal(text.statusCode, 415);
  t.match(text.json().detail, /Content-Type: application\/json/);

  const broken = await d.call({ method: 'POST', url: '/v1/api-keys', body: '{"name": "x",', headers: { 'content-type': 'application/json' } });
  t.equal(broken.statusCode, 400);
  t.equal(broken.json().type, 'urn:amsd:problem:invalid-json');

  const stillServing = await d.call({ url: '/v1/health', key: null });
  t.equal(stillServing.statusCode, 200, 'the daemon keeps serving after all that');
});

t.test('unauthenticated requests are refused before their body is looked at', async (t) => {
  const d = await startTestDaemon(t);
  const res = await d.call({ method: 'POST', url: '/v1/api-keys', key: null, body: { nonsense: true } });
  t.equal(res.statusCode, 401);
});

t.test('an unexpected failure is a 500 that reveals nothing but the request id', async (t) => {
  const d = await startTestDaemon(t);
  // Break the store under the daemon: the next write fails in a way no handler anticipates.
  (d.store as unknown as { mutate: unknown }).mutate = () => Promise.reject(new Error('disk on fire at /secret/path'));
  const res = await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'x', role: 'user' } });
  t.equal(res.statusCode, 500);
  t.equal(res.headers['content-type'], PROBLEM);
  const problem = res.json();
  t.notMatch(res.body, /disk on fire|secret\/path|at .*\.ts/, 'no internals in the body');
  t.match(problem.detail, new RegExp(`request id ${String(res.headers['x-request-id'])}`));
  t.ok(d.logLines.some((l) => l.includes('disk on fire') && l.includes(String(res.headers['x-request-id']))), 'the log has the cause, under the request id');
});

t.test('a caller-supplied request id is kept only when it is safe to log', async (t) => {
  const d = await startTestDaemon(t);
  const kept = await d.call({ url: '/v1/health', key: null, headers: { 'x-request-id': 'ticket-42.retry_1' } });
  t.equal(kept.headers['x-request-id'], 'ticket-42.retry_1');
  const replaced = await d.call({ url: '/v1/health', key: null, headers: { 'x-request-id': 'evil"\n{"level":60}' } });
  t.match(replaced.headers['x-request-id'], /^[0-9a-f-]{36}$/);
});

t.test('a key or token pasted into the path is not echoed back in the problem', async (t) => {
  const d = await startTestDaemon(t);
  const pasted = `ams_${'k'.repeat(43)}`;
  for (const url of [`/v1/api-keys/${pasted}`, `/v1/no-such-thing/${pasted}`]) {
    const res = await d.call({ method: 'DELETE', url });
    t.ok(res.statusCode >= 400 && res.statusCode < 500, `${url.slice(0, 20)}…: ${res.statusCode}`);
    t.notOk(res.body.includes(pasted), 'neither in instance nor in detail');
  }
});

t.test('a body that must give one of two fields says so in words, not in ajv’s', async (t) => {
  const d = await startTestDaemon(t);
  const neither = await d.call({ method: 'POST', url: '/v1/secrets/local-admin-password', body: { reason: 'x' } });
  t.equal(neither.statusCode, 400);
  t.match(neither.json().detail, /give computerName or deviceId \(one of them\)/);
  t.notMatch(neither.body, /exactly one schema|oneOf|is required/, 'no schema jargon, no field named missing that is not');
  t.same(neither.json().errors, [{ path: 'body', message: 'must give computerName or deviceId (one of them)' }]);
  t.match(neither.json().detail, /^The request is invalid: body must give computerName or deviceId \(one of them\)\.$/);
  const both = await d.call({ method: 'POST', url: '/v1/secrets/local-admin-password', body: { computerName: 'PC-0001', deviceId: '8b1811f6-5813-475a-8054-5d2939bd681f' } });
  t.equal(both.statusCode, 400);
  t.match(both.json().detail, /give only one of computerName and deviceId/);
});

t.test('every API answer says Cache-Control: no-store, refusals and errors too; the documentation does not', async (t) => {
  const d = await startTestDaemon(t);
  const answers = {
    'a success': await d.call({ url: '/v1/api-keys' }),
    'no key (401)': await d.call({ url: '/v1/api-keys', key: null }),
    'an unknown route (404)': await d.call({ url: '/v1/passwords' }),
    'a wrong method (405)': await d.call({ method: 'PATCH', url: '/v1/api-keys' }),
    'a validation failure (400)': await d.call({ method: 'POST', url: '/v1/api-keys', body: { role: 'owner' } }),
    'a body that is not JSON (400)': await d.call({ method: 'POST', url: '/v1/api-keys', body: '{', headers: { 'content-type': 'application/json' } }),
    'a key that does not exist (404)': await d.call({ method: 'DELETE', url: '/v1/api-keys/00000000-0000-4000-8000-000000000000' }),
  };
  for (const [what, res] of Object.entries(answers)) {
    t.equal(res.headers['cache-control'], 'no-store', what);
    t.ok(res.headers['x-request-id'], `${what}: its request id`);
  }
  const contract = await d.call({ url: '/openapi.json', key: null });
  t.equal(contract.statusCode, 200);
  t.not(contract.headers['cache-control'], 'no-store', 'the published contract may be cached');
});
