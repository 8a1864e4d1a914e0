/**
 * A lone UTF-16 surrogate (`"\ud800"` in JSON) cannot be encoded into a Graph URL: it is a 400 naming
 * the field wherever it appears, never a 500 URIError; and a secret read refused for it, or for any
 * other bad input, is on the audit trail like every other refusal (issue 11, item 3).
 */
import t from 'tap';
import { createKey, registerTenant, simulatedTenantFor, startTestDaemon } from '../helpers.js';

const PROBLEM = 'application/problem+json; charset=utf-8';
const LONE = '\\ud800'; // as it appears in JSON text: JSON.parse makes it a lone high surrogate

async function setUp(t: Parameters<typeof startTestDaemon>[0]) {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 5 });
  const daemon = await startTestDaemon(t, undefined, { caFile });
  await registerTenant(t, daemon, tenant);
  const user = await createKey(t, daemon, { name: 'helpdesk', role: 'user', tenantId: tenant.tenantId, principalId: tenant.directory.users[0]!.id });
  return { tenant, daemon, user };
}

t.test('a lone surrogate is a 400 naming the field, in bodies and query strings', async (t) => {
  const { tenant, daemon } = await setUp(t);
  const raw = (method: string, url: string, json: string) => daemon.call({ method, url, body: json, headers: { 'content-type': 'application/json' } });
  const cases: [string, Promise<import('fastify').LightMyRequestResponse>, string][] = [
    ['computerName', raw('POST', '/v1/secrets/local-admin-password', `{"computerName":"PC-${LONE}"}`), 'body/computerName'],
    ['a rule groupId', raw('POST', '/v1/computer-authorization-rules', `{"tenantId":"${tenant.tenantId}","description":"d","groupId":"G${LONE}","principalsAllowedLaps":["AMS-Helpdesk"]}`), 'body/groupId'],
    ['a rule deviceId', raw('POST', '/v1/computer-authorization-rules', `{"tenantId":"${tenant.tenantId}","description":"d","deviceId":"PC${LONE}","principalsAllowedLaps":["AMS-Helpdesk"]}`), 'body/deviceId'],
    ['a principal', raw('POST', '/v1/computer-authorization-rules', `{"tenantId":"${tenant.tenantId}","description":"d","principalsAllowedLaps":["AMS-Helpdesk","x${LONE}@contoso.example"]}`), 'body/principalsAllowedLaps/1'],
    ['a low surrogate alone', raw('PATCH', '/v1/service-config', `{"trustedProxies":["\\udc00"]}`), 'body/trustedProxies/0'],
    ['a field name', raw('POST', '/v1/api-keys', `{"name":"k","role":"user","x${LONE}":1}`), 'body/x\ufffd'],
  ];
  for (const [what, pending, path] of cases) {
    const res = await pending;
    t.equal(res.statusCode, 400, `${what}: 400, not 500 (${res.body})`);
    t.equal(res.headers['content-type'], PROBLEM);
    t.ok(res.json().errors.some((e: { path: string }) => e.path === path), `${what}: names ${path}`);
    t.match(res.json().detail, /lone UTF-16 surrogate/);
  }
  const query = await daemon.call({ url: `/v1/effective-access?user=${encodeURIComponent('a@b')}%ED%A0%80&computerName=PC-0001` });
  t.equal(query.statusCode, 400, `an undecodable query value is a 400 (${query.body})`);
  t.equal(query.headers['content-type'], PROBLEM);
  t.notOk(daemon.logLines.some((l) => l.includes('URIError')), 'no URIError reached the log');
});

t.test('every refused secret read is audited, whatever the cause', async (t) => {
  const { daemon, user } = await setUp(t);
  const events = async () => (await daemon.call({ url: '/v1/audit-events?type=secret.read&top=100' })).json().items as any[];
  const cases: [string, { body: unknown; headers?: Record<string, string> }, number][] = [
    ['a lone surrogate', { body: `{"computerName":"PC-${LONE}","reason":"r${LONE}"}`, headers: { 'content-type': 'application/json' } }, 400],
    ['a number for a name', { body: { computerName: 123 } }, 400],
    ['neither name nor id', { body: { reason: 'x' } }, 400],
    ['both name and id', { body: { computerName: 'PC-0001', deviceId: '00000000-0000-4000-8000-000000000000' } }, 400],
    ['not JSON', { body: '{"computerName":', headers: { 'content-type': 'application/json' } }, 400],
    ['not a JSON content type', { body: 'computerName=PC-0001', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415],
  ];
  for (const [what, request, status] of cases) {
    const before = (await events()).length;
    const res = await daemon.call({ method: 'POST', url: '/v1/secrets/local-admin-password', key: user, ...request });
    t.equal(res.statusCode, status, `${what}: ${status}`);
    const after = await events();
    t.equal(after.length, before + 1, `${what}: one audit event`);
    t.match(after[0], {
      type: 'secret.read',
      accessType: 'LocalAdminPassword',
      eventId: 4037,
      actor: { displayName: 'helpdesk' },
      requestId: res.headers['x-request-id'],
      outcome: { success: false, code: 'InvalidRequest' },
    }, `${what}: audited as InvalidRequest`);
    t.ok(JSON.stringify(after[0]).isWellFormed(), `${what}: the event is well-formed text`);
  }
  const unauthenticated = await daemon.call({ method: 'POST', url: '/v1/secrets/local-admin-password', key: null, body: { computerName: 'PC-0001' } });
  t.equal(unauthenticated.statusCode, 401, 'a request without a caller is a 401 (no one to audit)');
});

t.test('a user or principal that is not one path segment is a 400, and Graph is asked nothing outside /users/', async (t) => {
  const { tenant, daemon } = await setUp(t);
  const device = tenant.directory.devices[0]!.displayName;
  for (const user of [' ', '.', '..', '\t', '\n', ' .. ', '$count', '../groups', 'a/../..']) {
    tenant.resetCalls();
    const res = await daemon.call({ url: `/v1/effective-access?user=${encodeURIComponent(user)}&computerName=${device}` });
    const stray = tenant.calls.filter((c) => c.path.startsWith('/v1.0') && !c.path.startsWith('/v1.0/devices') && !/^\/v1\.0\/users\/[^/]+$/.test(c.path));
    t.same(stray.map((c) => c.path), [], `user=${JSON.stringify(user)}: no Graph call outside /v1.0/users/<one segment>`);
    if (user.includes('/')) {
      // A slash is encoded into the segment: Graph is asked for that (non-existent) user, and says so.
      t.equal(res.statusCode, 400, `user=${JSON.stringify(user)}: 400`);
      continue;
    }
    t.equal(res.statusCode, 400, `user=${JSON.stringify(user)}: 400 (${res.body})`);
    t.equal(res.headers['content-type'], PROBLEM);
    t.match(res.json(), { errors: [{ path: 'query/user' }] }, 'names query/user');
    t.equal(tenant.callCount('/v1.0/users'), 0, 'Graph is not asked for such a user');
  }
  const rule = await daemon.call({
    method: 'POST',
    url: '/v1/computer-authorization-rules',
    body: { tenantId: tenant.tenantId, description: 'dots', principalsAllowedLaps: ['..@', '.@x'] },
  });
  t.equal(rule.statusCode, 400, `principals are checked the same way (${rule.body})`);
});

t.test('NUL in any text is a 400 naming the field, on every store (PostgreSQL cannot hold it), and nothing is written', async (t) => {
  const { tenant, daemon } = await setUp(t);
  const raw = (method: string, url: string, json: string) => daemon.call({ method, url, body: json, headers: { 'content-type': 'application/json' } });
  const rulesBefore = (await daemon.call({ url: '/v1/computer-authorization-rules' })).json().items.length;
  const cases: [string, Promise<import('fastify').LightMyRequestResponse>, string][] = [
    ['a rule description', raw('POST', '/v1/computer-authorization-rules', `{"tenantId":"${tenant.tenantId}","description":"a\\u0000b","principalsAllowedLaps":["AMS-Helpdesk"]}`), 'body/description'],
    ['an API key name', raw('POST', '/v1/api-keys', '{"name":"k\\u0000","role":"user"}'), 'body/name'],
    ['computerName', raw('POST', '/v1/secrets/local-admin-password', '{"computerName":"PC-0001\\u0000"}'), 'body/computerName'],
    ['a field name', raw('POST', '/v1/api-keys', '{"name":"k","role":"user","x\\u0000":1}'), 'body/x\ufffd'],
  ];
  for (const [what, pending, path] of cases) {
    const res = await pending;
    t.equal(res.statusCode, 400, `${what}: 400 (${res.body})`);
    t.equal(res.headers['content-type'], PROBLEM);
    t.ok(res.json().errors.some((e: { path: string }) => e.path === path), `${what}: names ${path}`);
    t.match(res.json().detail, /NUL character/);
  }
  t.equal((await daemon.call({ url: '/v1/computer-authorization-rules' })).json().items.length, rulesBefore, 'no rule was made');
});
