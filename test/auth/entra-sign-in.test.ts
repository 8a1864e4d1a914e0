/**
 * Entra ID access tokens as bearer tokens, against the simulated tenant's real JWKS over TLS: the right
 * token is a caller (tid + oid, groups from the claim or from Graph), every wrong one is a 401 that
 * says what is wrong, and /v1/auth/config tells a client how to sign in.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import t from 'tap';
import { assertMatchesSpec, registerTenant, simulatedTenantFor, startTestDaemon, type TestContext } from '../helpers.js';

const AUDIENCE = 'api://amsd-test';
const API_APP_ID = randomUUID();
const PUBLIC_CLIENT_ID = randomUUID();

async function setUp(t: TestContext, signIn: Record<string, unknown> = {}) {
  const { tenant, caFile } = await simulatedTenantFor(t);
  const daemon = await startTestDaemon(t, undefined, { caFile });
  await registerTenant(t, daemon, tenant);
  const res = await daemon.call({
    method: 'PATCH',
    url: `/v1/tenants/${tenant.tenantId}`,
    body: { userSignInAudiences: [AUDIENCE, API_APP_ID], userSignInClientId: PUBLIC_CLIENT_ID, ...signIn },
  });
  t.equal(res.statusCode, 200, res.body);
  const users = tenant.directory.users;
  const group = (name: string) => tenant.directory.groups.find((g) => g.displayName === name)!;
  const me = async (token: string) => {
    const answer = await daemon.call({ url: '/v1/me', key: token });
    assertMatchesSpec(t, answer, 'getCurrentCaller');
    return answer;
  };
  return { tenant, daemon, users, group, me };
}

t.test('a token issued for amsd makes its user the caller, by tid and oid', async (t) => {
  const { tenant, users, me } = await setUp(t);
  const user = users[0]!;
  const v2 = await tenant.issueUserToken({ oid: user.id, audience: AUDIENCE, preferredUsername: user.userPrincipalName });
  const res = await me(v2);
  t.equal(res.statusCode, 200, res.body);
  t.same(res.json(), { kind: 'entra', displayName: user.userPrincipalName, role: 'user', tenantId: tenant.tenantId, principalId: user.id });

  const v1 = await tenant.issueUserToken({
    oid: user.id,
    audience: API_APP_ID,
    claims: { iss: `https://sts.windows.net/${tenant.tenantId}/`, ver: '1.0', upn: user.userPrincipalName },
  });
  t.equal((await me(v1)).statusCode, 200, 'a v1 token (sts.windows.net issuer, app id audience) is accepted too');
});

t.test('wrong tokens are refused with a 401 that names the problem', async (t) => {
  const { tenant, users, me } = await setUp(t);
  const oid = users[0]!.id;
  const refusedFor = async (token: string, detail: RegExp, what: string) => {
    const res = await me(token);
    t.equal(res.statusCode, 401, what);
    t.match(res.json().detail, detail, what);
    t.match(String(res.headers['www-authenticate']), /^Bearer/, `${what}: WWW-Authenticate`);
  };

  await refusedFor(await tenant.issueUserToken({ oid, audience: 'https://graph.microsoft.com' }), /for Microsoft Graph, not for amsd/, 'a Graph token');
  await refusedFor(await tenant.issueUserToken({ oid, audience: '00000003-0000-0000-c000-000000000000' }), /for Microsoft Graph/, "Graph's app id as audience");
  await refusedFor(await tenant.issueUserToken({ oid, audience: 'api://some-other-app' }), /issued for 'api:\/\/some-other-app', not for amsd/, 'another audience');
  await refusedFor(await tenant.issueUserToken({ oid, audience: AUDIENCE, expiresInSeconds: -600 }), /expired at/, 'an expired token');
  const later = Math.floor(Date.now() / 1000) + 3600;
  await refusedFor(await tenant.issueUserToken({ oid, audience: AUDIENCE, claims: { nbf: later, exp: later + 3600 } }), /not valid yet/, 'a token not valid yet');
  await refusedFor(await tenant.issueUserToken({ oid, audience: AUDIENCE, claims: { iss: 'https://login.example.org/evil/v2.0' } }), /issued by 'https:\/\/login.example.org\/evil\/v2.0'/, 'another issuer');
  await refusedFor(await tenant.issueUserToken({ oid, audience: AUDIENCE, claims: { tid: randomUUID() } }), /may not sign in to amsd/, 'a tenant amsd does not know');

  // Same claims, signed by a key that is not the tenant's.
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const kid = (await exportJWK(publicKey)).n!.slice(0, 16);
  const now = Math.floor(Date.now() / 1000);
  const forged = await new SignJWT({ aud: AUDIENCE, iss: `${tenant.authorityHost}/${tenant.tenantId}/v2.0`, tid: tenant.tenantId, oid, iat: now, nbf: now, exp: now + 600 })
    .setProtectedHeader({ alg: 'RS256', kid })
    .sign(privateKey);
  await refusedFor(forged, /signature does not verify/, 'a token signed by another key');
  await refusedFor('eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0.', /no tenant id|not signed|could not/, 'an unsigned token');
  await refusedFor('not.a.jwt', /neither an amsd API key/, 'garbage in JWT shape');
});

t.test('groups come from the claim, or from Graph when the token overflows; administrators get the admin role', async (t) => {
  const { tenant, users, group, me, daemon } = await setUp(t);
  const admins = group('AMS-Admins');
  const patch = await daemon.call({ method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body: { administratorIds: [admins.id] } });
  t.equal(patch.statusCode, 200);

  // users[0] is in AMS-Helpdesk ⊂ AMS-LAPS-Readers ⊂ AMS-Admins: an admin only through nesting.
  const nested = users[0]!;
  const withClaim = await tenant.issueUserToken({ oid: nested.id, audience: AUDIENCE, groups: [admins.id] });
  tenant.resetCalls();
  t.equal((await me(withClaim)).json().role, 'admin', 'the groups claim makes a member of an administrators group an admin');
  t.equal(tenant.callCount('/v1.0/users'), 0, 'without asking Graph');

  const overage = await tenant.issueUserToken({ oid: nested.id, audience: AUDIENCE, groups: Array.from({ length: 201 }, () => randomUUID()) });
  const res = await me(overage);
  t.equal(res.json().role, 'admin', 'past 200 groups the claim overflows; Graph says the user is (transitively) in AMS-Admins');
  t.equal(tenant.callCount('/v1.0/users'), 1, 'one getMemberGroups call');
  await me(overage);
  t.equal(tenant.callCount('/v1.0/users'), 1, 'the answer is cached');

  const outsider = users[users.length - 1]!;
  t.equal((await me(await tenant.issueUserToken({ oid: outsider.id, audience: AUDIENCE }))).json().role, 'user', 'no groups claim, Graph says not an admin');

  const userToken = await tenant.issueUserToken({ oid: outsider.id, audience: AUDIENCE });
  const adminOnly = await daemon.call({ url: '/v1/tenants', key: userToken });
  t.equal(adminOnly.statusCode, 403);
  t.match(adminOnly.json().detail, /signed-in user .* has the user role/);
  const adminToken = await tenant.issueUserToken({ oid: nested.id, audience: AUDIENCE, groups: [admins.id] });
  t.equal((await daemon.call({ url: '/v1/tenants', key: adminToken })).statusCode, 200, 'an admin token manages the daemon');
});

t.test('sign-in follows the tenant settings: off, disabled, and published by /v1/auth/config', async (t) => {
  const { tenant, users, me, daemon } = await setUp(t);
  const config = await daemon.call({ url: '/v1/auth/config', key: null });
  assertMatchesSpec(t, config, 'getAuthConfig');
  t.same(config.json(), {
    enabled: true,
    authority: `${tenant.authorityHost}/${tenant.tenantId}`,
    tenantId: tenant.tenantId,
    clientId: PUBLIC_CLIENT_ID,
    scopes: [`${AUDIENCE}/.default`],
    tenants: [{ tenantId: tenant.tenantId, displayName: 'Simulated', authority: `${tenant.authorityHost}/${tenant.tenantId}`, clientId: PUBLIC_CLIENT_ID, scopes: [`${AUDIENCE}/.default`] }],
  });

  const token = await tenant.issueUserToken({ oid: users[1]!.id, audience: AUDIENCE });
  await daemon.call({ method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body: { enabled: false } });
  t.match((await me(token)).json().detail, /is disabled in amsd/);
  t.equal((await daemon.call({ url: '/v1/auth/config', key: null })).json().enabled, false, 'a disabled tenant is not offered');

  await daemon.call({ method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body: { enabled: true, userSignInAudiences: [] } });
  t.match((await me(token)).json().detail, /may not sign in to amsd/, 'an empty audience list turns sign-in off');
  const view = (await daemon.call({ url: `/v1/tenants?tenantId=${tenant.tenantId}` })).json().items[0];
  t.same(view.userSignInAudiences, []);
  t.notOk('userSignInClientId' in view);
});

t.test('sign-in settings are validated', async (t) => {
  const { tenant, daemon } = await setUp(t);
  const patch = (body: unknown) => daemon.call({ method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body });
  let res = await patch({ userSignInAudiences: ['https://graph.microsoft.com'] });
  t.equal(res.statusCode, 400);
  t.match(res.json().errors, [{ path: 'body/userSignInAudiences', message: /Microsoft Graph's audience/ }]);

  await patch({ userSignInAudiences: [] });
  res = await patch({ administratorIds: [randomUUID()] });
  t.equal(res.statusCode, 400, 'administrators without sign-in is refused, not silently kept');
  t.match(res.json().errors, [{ path: 'body/administratorIds', message: /needs userSignInAudiences/ }]);

  res = await daemon.call({
    method: 'POST',
    url: '/v1/tenants',
    body: { tenantId: randomUUID(), displayName: 'No client', clientId: randomUUID(), clientSecret: 'x', userSignInAudiences: [AUDIENCE] },
  });
  t.equal(res.statusCode, 400);
  t.match(res.json().errors, [{ path: 'body/userSignInClientId', message: /is required with userSignInAudiences/ }]);
});
