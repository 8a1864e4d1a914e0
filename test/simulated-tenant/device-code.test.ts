/**
 * The simulated tenant's device code flow, over HTTPS as a public client would run it: the device code
 * request, polling (pending, slow_down, declined, expired, unknown, redeemed), the approving user's tokens
 * verified against the JWKS, refresh tokens, and the HTML sign-in page.
 */
import t, { type Test } from 'tap';
import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import { request } from 'undici';
import { startSimulatedTenant, DEVICE_CODE_GRANT, type SimulatedTenantOptions } from '../../daemon/simulated-tenant/index.js';
import { tenantFor } from './fixtures/harness.js';

const CLIENT_ID = '1950a258-227b-4e31-a9cf-717495945fc2';
const API_SCOPE = 'api://amsd-demo/.default';

async function deviceFlow(t: Test, options: SimulatedTenantOptions = {}) {
  const harness = await tenantFor(t, options);
  const { tenant, dispatcher, tokenRequest } = harness;
  /** Starts the flow; answers status and body of the device code endpoint. */
  const start = (form: Record<string, string> = { client_id: CLIENT_ID, scope: API_SCOPE }) => tokenRequest(form, tenant.deviceCodeEndpoint);
  /** Starts the flow and fails the test unless it worked. */
  const code = async (scope = API_SCOPE, clientId = CLIENT_ID) => {
    const { status, body } = await start({ client_id: clientId, scope });
    if (status !== 200) throw new Error(`devicecode answered ${status}: ${JSON.stringify(body)}`);
    return body as { user_code: string; device_code: string; verification_uri: string; expires_in: number; interval: number; message: string };
  };
  const poll = (deviceCode: string, clientId = CLIENT_ID) => tokenRequest({ grant_type: DEVICE_CODE_GRANT, client_id: clientId, device_code: deviceCode });
  /** The sign-in page: GET with a query, or POST a form; answers status, headers and HTML. */
  const page = async (form?: Record<string, string>, query = '') => {
    const response = await request(`${tenant.verificationUri}${query}`, {
      dispatcher,
      method: form ? 'POST' : 'GET',
      ...(form ? { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() } : {}),
    });
    return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
  };
  const keys = async () => {
    const jwks = (await (await request(`${tenant.authority}/discovery/v2.0/keys`, { dispatcher })).body.json()) as JSONWebKeySet;
    return createLocalJWKSet(jwks);
  };
  return { ...harness, start, code, poll, page, keys };
}

/** Group ids by display name, sorted, so the expectation does not depend on how the directory computes membership. */
function groupIds(directory: { groups: { id: string; displayName: string }[] }, ...names: string[]) {
  return names.map((name) => directory.groups.find((g) => g.displayName === name)!.id).sort();
}

/** The token's groups claim, sorted. */
const groupsOf = (token: unknown) => [...((decodeJwt(token as string).groups as string[] | undefined) ?? [])].sort();

t.test('the full flow: a code in Entra shape, pending until approved, then the approving user\'s tokens', async (t) => {
  const { tenant, code, poll, keys, tokenRequest } = await deviceFlow(t);
  const grant = await code(`${API_SCOPE} openid profile offline_access`);
  t.match(grant, { user_code: /^[A-Z2-9]{9}$/, device_code: String, verification_uri: `${tenant.authorityHost}/devicelogin`, expires_in: 900, interval: 5 });
  t.ok(grant.device_code.length > 100, 'an opaque, long device code');
  t.equal(grant.message, `To sign in, use a web browser to open the page ${tenant.authorityHost}/devicelogin and enter the code ${grant.user_code} to authenticate.`);

  const pending = await poll(grant.device_code);
  t.match(pending, { status: 400, body: { error: 'authorization_pending', error_codes: [70016], error_description: /^AADSTS70016: .*pending/ } });

  const user = tenant.directory.users.find((u) => u.userPrincipalName === 'user01@contoso.example')!;
  tenant.approveDeviceCode(grant.user_code.toLowerCase(), user.userPrincipalName); // any case
  const ok = await poll(grant.device_code);
  t.equal(ok.status, 200);
  t.match(ok.body, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: String, refresh_token: String, id_token: String });
  t.same((ok.body.scope as string).split(' ').sort(), ['api://amsd-demo/access_as_user', 'offline_access', 'openid', 'profile']);

  const keySet = await keys();
  const issuer = `${tenant.authority}/v2.0`;
  const { payload } = await jwtVerify(ok.body.access_token as string, keySet, { issuer, audience: 'api://amsd-demo', algorithms: ['RS256'] });
  t.match(payload, { oid: user.id, sub: user.id, tid: tenant.tenantId, preferred_username: user.userPrincipalName, name: user.displayName, scp: 'access_as_user', azp: CLIENT_ID });
  // user01 is in AMS-Helpdesk, inside AMS-LAPS-Readers, inside AMS-Admins; All-Staff is a distribution list.
  t.same(groupsOf(ok.body.access_token), groupIds(tenant.directory, 'AMS-Helpdesk', 'AMS-LAPS-Readers', 'AMS-Admins'), 'transitive security groups');
  t.ok(payload.exp! - payload.iat! === 3599);
  const idToken = await jwtVerify(ok.body.id_token as string, keySet, { issuer, audience: CLIENT_ID, algorithms: ['RS256'] });
  t.match(idToken.payload, { oid: user.id, preferred_username: user.userPrincipalName });
  t.notOk('scp' in idToken.payload, 'an ID token carries no scopes');

  const again = await poll(grant.device_code);
  t.match(again, { status: 400, body: { error: 'invalid_grant', error_description: /^AADSTS70000: .*already been redeemed/ } }, 'a device code is single-use');

  const refreshed = await tokenRequest({ grant_type: 'refresh_token', client_id: CLIENT_ID, refresh_token: ok.body.refresh_token as string, scope: `${API_SCOPE} offline_access openid` });
  t.equal(refreshed.status, 200, 'the refresh token works');
  t.match(decodeJwt(refreshed.body.access_token as string), { oid: user.id, aud: 'api://amsd-demo' });
  t.type(refreshed.body.refresh_token, 'string');
  t.match(await tokenRequest({ grant_type: 'refresh_token', client_id: randomUUID(), refresh_token: ok.body.refresh_token as string }), { status: 400, body: { error: 'invalid_grant' } }, 'for its own client only');
  t.match(await tokenRequest({ grant_type: 'refresh_token', client_id: CLIENT_ID, refresh_token: 'not-a-refresh-token' }), { status: 400, body: { error: 'invalid_grant' } });
});

t.test('the audience is the scope\'s resource; explicit scopes become scp; no refresh or ID token unless asked', async (t) => {
  const { tenant, code, poll } = await deviceFlow(t);
  const appId = randomUUID();
  const user = tenant.directory.users[5]!; // in AMS-Admins directly
  const byGuid = await code(`${appId}/.default`);
  tenant.approveDeviceCode(byGuid.user_code, user.id); // by object id
  const guidToken = await poll(byGuid.device_code);
  t.equal(guidToken.status, 200);
  t.notOk('refresh_token' in guidToken.body);
  t.notOk('id_token' in guidToken.body);
  t.match(decodeJwt(guidToken.body.access_token as string), { aud: appId, oid: user.id, scp: 'access_as_user' });
  t.same(groupsOf(guidToken.body.access_token), groupIds(tenant.directory, 'AMS-Admins'));

  const explicit = await code('api://amsd-demo/access_as_user api://amsd-demo/Audit.Read');
  tenant.approveDeviceCode(explicit.user_code, user.userPrincipalName.toUpperCase());
  const explicitToken = await poll(explicit.device_code);
  t.match(decodeJwt(explicitToken.body.access_token as string), { aud: 'api://amsd-demo', scp: 'access_as_user Audit.Read' });
  t.equal(explicitToken.body.scope, 'api://amsd-demo/access_as_user api://amsd-demo/Audit.Read');

  const noGroups = tenant.directory.users[11]!; // in All-Staff only: no security group
  const graph = await code('User.Read openid');
  tenant.approveDeviceCode(graph.user_code, noGroups.userPrincipalName);
  const graphToken = await poll(graph.device_code);
  const claims = decodeJwt(graphToken.body.access_token as string);
  t.match(claims, { aud: 'https://graph.microsoft.com', scp: 'User.Read' });
  t.notOk('groups' in claims, 'no groups claim for a user in no security group');
  t.equal(graphToken.body.scope, 'User.Read openid', "Graph's scopes are listed bare");
});

t.test('a declined code answers authorization_declined; approving or declining twice throws', async (t) => {
  const { tenant, code, poll } = await deviceFlow(t);
  const grant = await code();
  tenant.declineDeviceCode(grant.user_code);
  t.match(await poll(grant.device_code), { status: 400, body: { error: 'authorization_declined' } });
  t.match(await poll(grant.device_code), { status: 400, body: { error: 'authorization_declined' } }, 'and keeps answering it');
  t.throws(() => tenant.approveDeviceCode(grant.user_code, 'user01@contoso.example'), /already authorized or declined/);
  t.throws(() => tenant.declineDeviceCode(grant.user_code), /already authorized or declined/);
  t.throws(() => tenant.approveDeviceCode('NOSUCHCOD', 'user01@contoso.example'), /No device code has the user code 'NOSUCHCOD'/);
  const other = await code();
  t.throws(() => tenant.approveDeviceCode(other.user_code, 'nobody@contoso.example'), /no user 'nobody@contoso.example'/);
  t.match(await poll(other.device_code), { status: 400, body: { error: 'authorization_pending' } }, 'a failed approval leaves the code pending');
});

t.test('an expired code answers expired_token, even once approved; it can no longer be approved', async (t) => {
  // The tenant's clock is moved past the code's life instead of waiting it out.
  let clock = Date.now();
  const { tenant, code, poll } = await deviceFlow(t, { deviceCodeLifetimeSeconds: 1.5, clock: () => clock });
  const approved = await code();
  const unapproved = await code();
  t.equal(approved.expires_in, 2, 'whole seconds on the wire, rounded up');
  tenant.approveDeviceCode(approved.user_code, 'user02@contoso.example');
  clock += 1600;
  t.match(await poll(approved.device_code), { status: 400, body: { error: 'expired_token', error_codes: [70020], error_description: /^AADSTS70020: .*This device code has expired/ } });
  t.match(await poll(unapproved.device_code), { status: 400, body: { error: 'expired_token' } });
  t.throws(() => tenant.approveDeviceCode(unapproved.user_code, 'user02@contoso.example'), /has expired/);
});

t.test('unknown codes, other clients and missing parameters are refused in Entra\'s words', async (t) => {
  const { tenant, code, poll, tokenRequest } = await deviceFlow(t);
  t.match(await poll('bm90LWEtZGV2aWNlLWNvZGU'), { status: 400, body: { error: 'bad_verification_code', error_description: /'device_code' is not valid/ } });
  const grant = await code();
  tenant.approveDeviceCode(grant.user_code, 'user03@contoso.example');
  t.match(await poll(grant.device_code, randomUUID()), { status: 400, body: { error: 'invalid_grant' } }, 'a code is bound to its client');
  t.match(await tokenRequest({ grant_type: DEVICE_CODE_GRANT, client_id: CLIENT_ID }), { status: 400, body: { error: 'invalid_request', error_codes: [900144], error_description: /'device_code'/ } });
  t.equal((await poll(grant.device_code)).status, 200, 'the right client still redeems it');
  t.match(await tokenRequest({ grant_type: 'client_credentials', client_id: CLIENT_ID }), { status: 400, body: { error: 'unauthorized_client' } }, 'other grants are still the identity endpoint\'s');
});

t.test('the device code endpoint refuses a bad client id, a missing scope, another tenant and GET', async (t) => {
  const { tenant, start, dispatcher } = await deviceFlow(t);
  t.match(await start({ client_id: 'powershell', scope: API_SCOPE }), { status: 400, body: { error: 'unauthorized_client', error_codes: [700038], error_description: /^AADSTS700038: powershell is not a valid application identifier/ } });
  t.match(await start({ scope: API_SCOPE }), { status: 400, body: { error: 'invalid_request', error_codes: [900144], error_description: /'client_id'/ } });
  t.match(await start({ client_id: CLIENT_ID }), { status: 400, body: { error: 'invalid_request', error_codes: [900144], error_description: /'scope'/ } });
  t.match(await start({ client_id: CLIENT_ID, scope: 'api://amsd-demo/.default https://graph.microsoft.com/User.Read' }), { status: 400, body: { error: 'invalid_scope', error_codes: [700022] } });
  const otherTenant = await request(`${tenant.authorityHost}/${randomUUID()}/oauth2/v2.0/devicecode`, { dispatcher, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `client_id=${CLIENT_ID}&scope=${API_SCOPE}` });
  t.match({ status: otherTenant.statusCode, body: await otherTenant.body.json() }, { status: 400, body: { error_codes: [90002] } });
  const get = await request(tenant.deviceCodeEndpoint, { dispatcher });
  t.match({ status: get.statusCode, body: await get.body.json() }, { status: 405, body: { error_codes: [900561] } });
});

t.test('with publicClients, only registered client ids may start the flow', async (t) => {
  const { tenant, start } = await deviceFlow(t, { publicClients: [CLIENT_ID.toUpperCase()] });
  t.equal((await start()).status, 200, 'a listed client, in any case');
  const other = randomUUID();
  t.match(await start({ client_id: other, scope: API_SCOPE }), { status: 400, body: { error: 'unauthorized_client', error_codes: [700016], error_description: new RegExp(`Application with identifier '${other}' was not found in the directory '${tenant.tenantId}'`) } });
  tenant.registerPublicClient(other);
  t.equal((await start({ client_id: other, scope: API_SCOPE })).status, 200, 'accepted once registered');
  t.throws(() => tenant.registerPublicClient('not-a-guid'), /not a client id/);
});

t.test('polling faster than the interval answers slow_down', async (t) => {
  // One second: two polls in a row come sooner even on a slow machine; waiting past it is exact.
  let clock = Date.now();
  const { code, poll } = await deviceFlow(t, { deviceCodeIntervalSeconds: 1, clock: () => clock });
  const grant = await code();
  t.equal(grant.interval, 1);
  t.match(await poll(grant.device_code), { status: 400, body: { error: 'authorization_pending' } }, 'the first poll may come at once');
  t.match(await poll(grant.device_code), { status: 400, body: { error: 'slow_down', error_description: /sooner than the interval/ } });
  clock += 1050;
  t.match(await poll(grant.device_code), { status: 400, body: { error: 'authorization_pending' } }, 'a poll after the interval is fine');
});

t.test('autoApproveAs approves every code on its first poll; an unknown user is refused at start', async (t) => {
  const { tenant, code, poll } = await deviceFlow(t, { autoApproveAs: 'USER07@contoso.example' });
  const user = tenant.directory.users[6]!;
  const grant = await code();
  const ok = await poll(grant.device_code);
  t.equal(ok.status, 200);
  t.match(decodeJwt(ok.body.access_token as string), { oid: user.id, preferred_username: 'user07@contoso.example' });
  t.same(groupsOf(ok.body.access_token), groupIds(tenant.directory, 'AMS-LAPS-Readers', 'AMS-Admins'));
  await t.rejects(startSimulatedTenant({ autoApproveAs: 'nobody@contoso.example' }), /autoApproveAs: the simulated directory has no user 'nobody@contoso.example'/);
});

t.test('the sign-in page approves and declines codes with a plain form', async (t) => {
  const { tenant, code, poll, page } = await deviceFlow(t);
  const form = await page();
  t.equal(form.status, 200);
  t.match(form.headers['content-type'], /^text\/html; charset=utf-8/);
  t.match(form.headers['content-security-policy'], /default-src 'none'/);
  t.match(form.text, /<form method="post" action="\/devicelogin">/);
  t.notMatch(form.text, /<script/i, 'no script');
  for (const user of tenant.directory.users) t.match(form.text, `<option value="${user.userPrincipalName}">`, `lists ${user.userPrincipalName}`);
  const prefilled = await page(undefined, '?code=ABC');
  t.match(prefilled.text, /name="user_code" value="ABC"/, '?code= fills the code in');

  const grant = await code();
  const user = tenant.directory.users[2]!;
  const approved = await page({ user_code: ` ${grant.user_code.toLowerCase()} `, user: user.userPrincipalName, action: 'approve' });
  t.equal(approved.status, 200);
  t.match(approved.text, /<h1>Signed in<\/h1>/);
  t.match(approved.text, `as <strong>${user.userPrincipalName}</strong>`);
  const token = await poll(grant.device_code);
  t.equal(token.status, 200);
  t.equal(decodeJwt(token.body.access_token as string).oid, user.id, 'the token is the user chosen on the page');

  const twice = await page({ user_code: grant.user_code, user: user.userPrincipalName, action: 'approve' });
  t.equal(twice.status, 400);
  t.match(twice.text, /already authorized or declined/);

  const declined = await code();
  const declinedPage = await page({ user_code: declined.user_code, user: user.userPrincipalName, action: 'decline' });
  t.match(declinedPage, { status: 200, text: /<h1>Sign-in declined<\/h1>/ });
  t.match(await poll(declined.device_code), { status: 400, body: { error: 'authorization_declined' } });

  const unknownUser = await code();
  const refused = await page({ user_code: unknownUser.user_code, user: 'nobody@contoso.example', action: 'approve' });
  t.match(refused, { status: 400, text: /no user &#39;nobody@contoso.example&#39;/ });
  t.match(await poll(unknownUser.device_code), { status: 400, body: { error: 'authorization_pending' } });
  t.match(await page({ user_code: '', user: user.userPrincipalName, action: 'approve' }), { status: 400, text: /AADSTS90119/ });
});

t.test('the sign-in page escapes what it echoes', async (t) => {
  const { page } = await deviceFlow(t);
  const evil = `"><script>alert('x')</script><b a='`;
  const escaped = '&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&lt;b a=&#39;';
  const posted = await page({ user_code: evil, user: `<img src=x onerror=alert(1)>`, action: 'approve' });
  t.equal(posted.status, 400);
  t.match(posted.text, `value="${escaped}"`, 'the code is echoed into the field, escaped');
  t.match(posted.text, `No device code has the user code &#39;${escaped}&#39;`);
  t.notMatch(posted.text, /<script|<img|<b a=/i, 'nothing the caller sent becomes markup');
  const prefilled = await page(undefined, `?code=${encodeURIComponent(evil)}`);
  t.match(prefilled.text, `value="${escaped}"`);
  t.notMatch(prefilled.text, /<script|<b a=/i);
});
