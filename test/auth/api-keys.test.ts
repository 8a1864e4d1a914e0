/**
 * API keys as an administrator meets them: created once and shown once, listed without secrets,
 * refused when missing, malformed, unknown, revoked or expired, and a user key kept out of admin work.
 */
import t from 'tap';
import { assertMatchesSpec, registerTenant, simulatedTenantFor, startTestDaemon, stateFilesText } from '../helpers.js';

const TENANT = '11111111-2222-4333-8444-555555555555';

t.test('an admin creates a user key, sees it once, and the key works', async (t) => {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 5 });
  const d = await startTestDaemon(t, undefined, { caFile });
  await registerTenant(t, d, tenant);
  const [TENANT, user] = [tenant.tenantId, tenant.directory.users[0]!];
  const USER = user.id;
  const created = await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'helpdesk', role: 'user', tenantId: TENANT, principalId: USER } });
  t.equal(created.statusCode, 201);
  assertMatchesSpec(t, created, 'createApiKey');
  const body = created.json();
  t.match(body.key, /^ams_[A-Za-z0-9_-]{43}$/, 'the key is ams_ + 256 bits in base64url');
  t.equal(created.headers.location, `/v1/api-keys/${body.id}`);
  t.equal(created.headers['cache-control'], 'no-store');
  t.equal(body.createdBy, 'bootstrap-admin');
  t.equal(body.prefix, body.key.slice(0, 8));
  t.equal(body.userPrincipalName, user.userPrincipalName, 'the user it acts as is looked up, and shown by UPN');

  const me = await d.call({ url: '/v1/me', key: body.key });
  t.equal(me.statusCode, 200);
  assertMatchesSpec(t, me, 'getCurrentCaller');
  t.same(me.json(), { kind: 'apiKey', apiKeyId: body.id, displayName: 'helpdesk', role: 'user', tenantId: TENANT, principalId: USER });

  const list = await d.call({ url: '/v1/api-keys' });
  assertMatchesSpec(t, list, 'listApiKeys');
  t.equal(list.json().items.length, 2);
  t.notOk(list.body.includes(body.key), 'the list never contains a key');
  t.notOk(list.body.includes('hash'), 'nor its hash');

  const onDisk = await stateFilesText(d.dataDir);
  t.notOk(onDisk.includes(body.key), 'the data file holds no key, only its hash');
  t.notOk(onDisk.includes(d.adminKey));
});

t.test('a user key is refused on admin operations with 403', async (t) => {
  const d = await startTestDaemon(t);
  const user = (await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'reader', role: 'user' } })).json();
  for (const [method, url] of [['GET', '/v1/api-keys'], ['POST', '/v1/api-keys'], ['DELETE', `/v1/api-keys/${user.id}`]] as const) {
    const res = await d.call({ method, url, key: user.key, ...(method === 'POST' ? { body: { name: 'x', role: 'admin' } } : {}) });
    t.equal(res.statusCode, 403, `${method} ${url}`);
    t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
    t.match(res.json().detail, /for administrators.*'reader' has the user role/);
  }
  const afterwards = await d.call({ url: '/v1/api-keys' });
  t.equal(afterwards.json().items.length, 2, 'the refused create created nothing');

  // An HTTP caller is told the operation and its path, not a PowerShell cmdlet.
  const rules = await d.call({ url: '/v1/computer-authorization-rules', key: user.key });
  t.equal(
    rules.json().detail,
    "listComputerAuthorizationRules (GET /v1/computer-authorization-rules) is for administrators, and the API key 'reader' has the user role.",
  );
});

t.test('missing, malformed, unknown, revoked and expired credentials are 401 problem+json', async (t) => {
  const d = await startTestDaemon(t);
  const victim = (await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'old', role: 'admin' } })).json();
  const revoked = await d.call({ method: 'DELETE', url: `/v1/api-keys/${victim.id}` });
  t.equal(revoked.statusCode, 200);
  assertMatchesSpec(t, revoked, 'revokeApiKey');
  t.equal(revoked.json().status, 'revoked');

  const expiring = (await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'temp', role: 'user', expiresAt: new Date(Date.now() + 3_600_000).toISOString() } })).json();
  await d.store.mutate((draft) => draft.put('apiKeys', { ...draft.get('apiKeys', expiring.id)!, expiresAt: new Date(Date.now() - 1000).toISOString() }));

  const cases: [string, Record<string, string>, RegExp][] = [
    ['no header', {}, /needs an Authorization: Bearer/],
    ['another scheme', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, /must be "Bearer <api key>"/],
    ['not an amsd key', { authorization: 'Bearer eyJhbGciOi.x.y' }, /neither an amsd API key .* nor a readable Entra ID access token/],
    ['neither a key nor a JWT', { authorization: 'Bearer hunter2' }, /not an amsd API key/],
    ['unknown key', { authorization: `Bearer ams_${'A'.repeat(43)}` }, /not known/],
    ['revoked key', { authorization: `Bearer ${victim.key}` }, /'old' was revoked/],
    ['expired key', { authorization: `Bearer ${expiring.key}` }, /'temp' expired/],
  ];
  for (const [name, headers, detail] of cases) {
    const res = await d.call({ url: '/v1/me', key: null, headers });
    t.equal(res.statusCode, 401, name);
    t.equal(res.headers['www-authenticate'], 'Bearer realm="amsd"', `${name}: says which scheme to use`);
    assertMatchesSpec(t, res, 'getCurrentCaller');
    t.match(res.json().detail, detail, `${name}: the detail says what is wrong`);
  }
  const listed = (await d.call({ url: '/v1/api-keys?status=expired' })).json().items;
  t.same(listed.map((k: { name: string }) => k.name), ['temp'], 'expired keys can be listed by status');
});

t.test('a key acts only as a user of a configured tenant', async (t) => {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 5 });
  const d = await startTestDaemon(t, undefined, { caFile });
  const unconfigured = await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'x', role: 'user', tenantId: tenant.tenantId, principalId: tenant.directory.users[0]!.id } });
  assertMatchesSpec(t, unconfigured, 'createApiKey');
  t.equal(unconfigured.statusCode, 400);
  t.same(unconfigured.json().errors.map((e: { path: string }) => e.path), ['body/tenantId']);
  t.match(unconfigured.json().detail, /is not a configured tenant/);

  await registerTenant(t, d, tenant);
  const group = tenant.directory.groups[0]!;
  const notAUser = await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'x', role: 'user', tenantId: tenant.tenantId, principalId: group.id } });
  assertMatchesSpec(t, notAUser, 'createApiKey');
  t.equal(notAUser.statusCode, 400);
  t.match(notAUser.json().errors, [{ path: 'body/principalId', message: /no user/ }]);
  t.equal((await d.call({ url: '/v1/api-keys' })).json().items.length, 1, 'nothing was created');
});

t.test('bad key requests name what to fix', async (t) => {
  const d = await startTestDaemon(t);
  const half = await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'x', role: 'user', tenantId: TENANT } });
  t.equal(half.statusCode, 400);
  assertMatchesSpec(t, half, 'createApiKey');
  t.same(half.json().errors.map((e: { path: string }) => e.path), ['body/principalId']);

  const past = await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'x', role: 'user', expiresAt: '2020-01-01T00:00:00Z' } });
  t.equal(past.statusCode, 400);
  t.match(past.json().detail, /body\/expiresAt must be in the future/);

  const blank = await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: '   ', role: 'user' } });
  t.equal(blank.statusCode, 400);

  await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'Robot', role: 'user' } });
  const clash = await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'robot', role: 'user' } });
  t.equal(clash.statusCode, 409);
  assertMatchesSpec(t, clash, 'createApiKey');
  t.match(clash.json().detail, /already named 'Robot'/);

  const unknown = await d.call({ method: 'DELETE', url: '/v1/api-keys/00000000-0000-4000-8000-000000000000' });
  t.equal(unknown.statusCode, 404);
  assertMatchesSpec(t, unknown, 'revokeApiKey');
  const notAnId = await d.call({ method: 'DELETE', url: '/v1/api-keys/ams_secret' });
  t.equal(notAnId.statusCode, 400);
  t.match(notAnId.json().errors, [{ path: 'params/id', message: /valid uuid/ }]);
});

t.test('the last active admin key cannot be revoked', async (t) => {
  const d = await startTestDaemon(t);
  const [bootstrap] = (await d.call({ url: '/v1/api-keys' })).json().items;
  const refused = await d.call({ method: 'DELETE', url: `/v1/api-keys/${bootstrap.id}` });
  t.equal(refused.statusCode, 409);
  t.match(refused.json().detail, /last active admin key/);
  t.equal((await d.call({ url: '/v1/me' })).statusCode, 200, 'the key still works');

  const second = (await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'second-admin', role: 'admin' } })).json();
  t.equal((await d.call({ method: 'DELETE', url: `/v1/api-keys/${bootstrap.id}` })).statusCode, 200, 'with another admin key it can');
  t.equal((await d.call({ url: '/v1/me' })).statusCode, 401, 'and the bootstrap key is refused from then on');
  t.equal((await d.call({ url: '/v1/me', key: second.key })).json().displayName, 'second-admin');
});
