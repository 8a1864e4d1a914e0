/**
 * Input the contract does not allow is refused with a 400 problem naming the field, before it reaches
 * a handler, Graph or the state file: bodies are taken as sent (never type-coerced), query values are
 * turned into numbers only when they are plain decimal numbers within their bounds, and unknown query
 * parameters are refused on every operation (issue 11, items 1, 2 and 6).
 */
import { join } from 'node:path';
import t from 'tap';
import { STATE_FILE } from '../../daemon/daemon.js';
import { readState } from '../../daemon/store/state-files.js';
import { assertMatchesSpec, createKey, startTestDaemon } from '../helpers.js';

const PROBLEM = 'application/problem+json; charset=utf-8';

/** The state file as written, without the API keys' lastUsedAt (recorded in the background on a key's first use). */
async function storedState(dataDir: string): Promise<string> {
  // The snapshot with its change journal applied: what the next start would load.
  const state = (await readState(join(dataDir, STATE_FILE)))!;
  for (const key of state.apiKeys) delete key.lastUsedAt;
  return JSON.stringify(state);
}

t.test('request bodies are not type-coerced', async (t) => {
  const d = await startTestDaemon(t);
  const user = await createKey(t, d, { name: 'u', role: 'user' });
  const number = await d.call({ method: 'POST', url: '/v1/secrets/local-admin-password', key: user, body: { computerName: 123 } });
  t.equal(number.statusCode, 400, 'a number is not taken for the name "123"');
  t.equal(number.headers['content-type'], PROBLEM);
  t.same(number.json().errors, [{ path: 'body/computerName', message: 'must be string' }]);

  const stringForNumber = await d.call({ method: 'PATCH', url: '/v1/service-config', body: { userRateLimitPerDay: '500' } });
  t.equal(stringForNumber.statusCode, 400, 'a string is not taken for a number');
  const scalarForArray = await d.call({ method: 'PATCH', url: '/v1/service-config', body: { trustedProxies: '10.0.0.0/8' } });
  t.equal(scalarForArray.statusCode, 400, 'a scalar is not wrapped into an array');
  const boolean = await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'x', role: 'user', description: true } });
  t.equal(boolean.statusCode, 400, 'a boolean is not taken for a string');
});

t.test('settings that could not be loaded again are refused, and nothing is written', async (t) => {
  const d = await startTestDaemon(t);
  const before = await storedState(d.dataDir);
  for (const body of [
    { userRateLimitPerDay: '1e309' },
    { userRateLimitPerDay: 'Infinity' },
    { deviceCacheSeconds: 'Infinity' },
    { deviceCacheSeconds: '-Infinity' },
    { groupCacheSeconds: ' 5' },
  ]) {
    const res = await d.call({ method: 'PATCH', url: '/v1/service-config', body });
    t.equal(res.statusCode, 400, `${JSON.stringify(body)} is a 400`);
    t.equal(res.headers['content-type'], PROBLEM);
  }
  // A JSON number too large for a double parses to Infinity: the schema's bounds still apply.
  const huge = await d.call({ method: 'PATCH', url: '/v1/service-config', body: '{"userRateLimitPerDay":1e309}', headers: { 'content-type': 'application/json' } });
  t.equal(huge.statusCode, 400, '1e309 as a JSON number is a 400');
  t.equal(await storedState(d.dataDir), before, 'the state file is unchanged');
  t.equal((await d.call({ url: '/v1/service-config' })).statusCode, 200, 'settings still answer');

  await d.app.close();
  const again = await startTestDaemon(t, d.dataDir);
  t.equal((await again.call({ url: '/v1/service-config' })).json().userRateLimitPerDay, 100, 'the daemon starts again, with the settings it had');
});

t.test('query values are numbers only when plain decimals within their bounds', async (t) => {
  const d = await startTestDaemon(t);
  for (const limit of ['Infinity', '-Infinity', '1e309', '1e3', '0x10', ' 5', '5.5', '', '0', '1001', 'NaN']) {
    const res = await d.call({ url: `/v1/audit-events?top=${encodeURIComponent(limit)}` });
    t.equal(res.statusCode, 400, `top=${JSON.stringify(limit)} is a 400`);
    t.equal(res.headers['content-type'], PROBLEM);
    t.equal(res.json().errors[0].path, 'query/top');
  }
  const fine = await d.call({ url: '/v1/audit-events?top=5' });
  t.equal(fine.statusCode, 200);
  assertMatchesSpec(t, fine, 'listAuditEvents');
  const twice = await d.call({ url: '/v1/audit-events?top=5&top=6' });
  t.equal(twice.statusCode, 400, 'a parameter given twice is a 400, not an array taken as a number');
});

t.test('GET /v1/devices?top=Infinity is a 400 before Graph is asked', async (t) => {
  // No tenant is configured: anything that passed validation would answer 409 no-tenant instead.
  const d = await startTestDaemon(t);
  for (const top of ['Infinity', '1e309', '-Infinity', '1000', '0']) {
    const res = await d.call({ url: `/v1/devices?top=${top}` });
    t.equal(res.statusCode, 400, `top=${top}`);
    t.match(res.json(), { type: 'urn:amsd:problem:validation-failed', errors: [{ path: 'query/top' }] });
  }
  t.equal((await d.call({ url: '/v1/devices?top=10' })).statusCode, 409, 'a good top passes validation (and meets no tenant)');
});

t.test('unknown query parameters are refused on every operation, also those that declare none', async (t) => {
  const d = await startTestDaemon(t);
  const before = await storedState(d.dataDir);
  const patch = await d.call({ method: 'PATCH', url: '/v1/service-config?dryRun=true', body: { userRateLimitPerDay: 500 } });
  t.equal(patch.statusCode, 400, 'PATCH /v1/service-config?dryRun=true is refused');
  t.equal(patch.headers['content-type'], PROBLEM);
  t.same(patch.json().errors.map((e: { path: string }) => e.path), ['query/dryRun']);
  t.match(patch.json().detail, /query\/dryRun/, 'the detail names the parameter');
  t.equal(await storedState(d.dataDir), before, 'and not applied');
  t.equal((await d.call({ url: '/v1/service-config' })).json().userRateLimitPerDay, 100);

  for (const [method, url] of [
    ['GET', '/v1/health?verbose=1'],
    ['GET', '/v1/me?x=1'],
    ['GET', '/v1/auth/config?x=1'],
    ['POST', '/v1/api-keys?force=true'],
    ['DELETE', '/v1/api-keys/00000000-0000-4000-8000-000000000000?force=true'],
    ['GET', '/v1/service-config?x='],
  ] as const) {
    const res = await d.call({ method, url, ...(method === 'POST' ? { body: { name: 'k', role: 'user' } } : {}) });
    t.equal(res.statusCode, 400, `${method} ${url}`);
    t.equal(res.headers['content-type'], PROBLEM);
  }
});
