/**
 * The simulated tenant's identity provider: discovery, client credentials by secret and by certificate
 * assertion, Entra's error shapes, and tokens that verify against its JWKS.
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, importPKCS8, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';
import { request, type Dispatcher } from 'undici';
import { createTokenProvider } from '../../daemon/directory/token-provider.js';
import { createClientCertificate } from '../../daemon/simulated-tenant/certificates.js';
import { tenantFor, type SimulatedTenant } from './fixtures/harness.js';

async function jwks(tenant: SimulatedTenant, dispatcher: Dispatcher) {
  const config = (await (await request(`${tenant.authority}/v2.0/.well-known/openid-configuration`, { dispatcher })).body.json()) as { jwks_uri: string; issuer: string };
  const keys = (await (await request(config.jwks_uri, { dispatcher })).body.json()) as JSONWebKeySet;
  return { config, keySet: createLocalJWKSet(keys) };
}

async function assertion(tenant: SimulatedTenant, cert: { privateKeyPem: string; thumbprintSha256: string; thumbprint: string }, header: 'x5t#S256' | 'x5t', claims: Record<string, unknown> = {}) {
  const key = await importPKCS8(cert.privateKeyPem, 'RS256');
  const x5t = Buffer.from(header === 'x5t' ? cert.thumbprint : cert.thumbprintSha256, 'hex').toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const standard = { iss: tenant.app.clientId, sub: tenant.app.clientId, aud: tenant.tokenEndpoint, iat: now, nbf: now, exp: now + 600, jti: randomUUID() };
  return new SignJWT({ ...standard, ...claims }).setProtectedHeader({ alg: 'RS256', typ: 'JWT', [header]: x5t }).sign(key);
}

const assertionForm = (tenant: SimulatedTenant, clientAssertion: string) => ({
  grant_type: 'client_credentials',
  client_id: tenant.app.clientId,
  scope: tenant.graphScope,
  client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  client_assertion: clientAssertion,
});

t.test('discovery points at this host, in login.microsoftonline.com shape', async (t) => {
  const { tenant, dispatcher } = await tenantFor(t);
  const { config } = await jwks(tenant, dispatcher);
  t.match(tenant.authorityHost, /^https:\/\/127\.0\.0\.1:\d+$/);
  t.match(config, {
    issuer: `${tenant.authorityHost}/${tenant.tenantId}/v2.0`,
    token_endpoint: `${tenant.authority}/oauth2/v2.0/token`,
    authorization_endpoint: `${tenant.authority}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${tenant.authority}/oauth2/v2.0/devicecode`,
    jwks_uri: `${tenant.authority}/discovery/v2.0/keys`,
  });
  t.same(JSON.parse(tenant.authorityMetadata), config, 'authorityMetadata is the same document');
});

t.test('the right secret gets a Graph token that verifies against the JWKS; a wrong one is invalid_client', async (t) => {
  const { tenant, dispatcher, tokenRequest, secretForm } = await tenantFor(t);
  const ok = await tokenRequest(secretForm());
  t.equal(ok.status, 200);
  t.match(ok.body, { token_type: 'Bearer', expires_in: Number, access_token: String });
  const { config, keySet } = await jwks(tenant, dispatcher);
  const { payload, protectedHeader } = await jwtVerify(ok.body.access_token as string, keySet, { issuer: config.issuer, audience: 'https://graph.microsoft.com', algorithms: ['RS256'] });
  t.equal(protectedHeader.alg, 'RS256');
  t.match(payload, { tid: tenant.tenantId, appid: tenant.app.clientId, idtyp: 'app' });
  t.same([...(payload.roles as string[])].sort(), [...tenant.app.permissions].sort());
  t.ok(payload.exp! - payload.iat! >= 3500 && payload.exp! - payload.iat! <= 3600, 'about an hour');

  const wrong = await tokenRequest({ ...secretForm(), client_secret: 'not-the-secret' });
  t.equal(wrong.status, 401);
  t.equal(wrong.body.error, 'invalid_client');
  t.match(wrong.body.error_description, /^AADSTS7000215: Invalid client secret provided/);
  t.same(wrong.body.error_codes, [7000215]);
});

t.test('other refusals use Entra codes', async (t) => {
  const { tenant, tokenRequest, secretForm } = await tenantFor(t);
  const unknownApp = await tokenRequest({ ...secretForm(), client_id: randomUUID() });
  t.match(unknownApp, { status: 400, body: { error: 'unauthorized_client', error_description: /^AADSTS700016:/ } });
  const otherTenant = await tokenRequest(secretForm(), `${tenant.authorityHost}/${randomUUID()}/oauth2/v2.0/token`);
  t.match(otherTenant, { status: 400, body: { error: 'invalid_request', error_description: /^AADSTS90002:/ } });
  const badScope = await tokenRequest({ ...secretForm(), scope: 'https://graph.microsoft.com/Device.Read.All' });
  t.match(badScope, { status: 400, body: { error: 'invalid_scope' } });
  const noCredential = await tokenRequest({ grant_type: 'client_credentials', client_id: tenant.app.clientId, scope: tenant.graphScope });
  t.match(noCredential, { status: 401, body: { error: 'invalid_client' } });
  const grant = await tokenRequest({ ...secretForm(), grant_type: 'password' });
  t.match(grant, { status: 400, body: { error: 'unsupported_grant_type' } });
});

t.test('a certificate assertion works by x5t#S256 and by x5t; an unregistered certificate is refused until added', async (t) => {
  const { tenant, tokenRequest } = await tenantFor(t);
  for (const header of ['x5t#S256', 'x5t'] as const) {
    const ok = await tokenRequest(assertionForm(tenant, await assertion(tenant, tenant.app.certificate, header)));
    t.equal(ok.status, 200, header);
    t.equal(decodeJwt(ok.body.access_token as string).appid, tenant.app.clientId);
  }
  const other = await createClientCertificate('another');
  const refused = await tokenRequest(assertionForm(tenant, await assertion(tenant, other, 'x5t#S256')));
  t.match(refused, { status: 401, body: { error: 'invalid_client', error_description: /^AADSTS700027:/ } });

  // The key of another certificate under the registered thumbprint: a bad signature.
  const forged = await assertion(tenant, { ...other, thumbprintSha256: tenant.app.certificate.thumbprintSha256 }, 'x5t#S256');
  t.match(await tokenRequest(assertionForm(tenant, forged)), { status: 401, body: { error_description: /^AADSTS700027: Client assertion failed signature validation/ } });
  const expired = await assertion(tenant, tenant.app.certificate, 'x5t#S256', { exp: Math.floor(Date.now() / 1000) - 900, nbf: Math.floor(Date.now() / 1000) - 1500, iat: Math.floor(Date.now() / 1000) - 1500 });
  t.match(await tokenRequest(assertionForm(tenant, expired)), { status: 401, body: { error_description: /^AADSTS700024:/ } });

  tenant.addClientCertificate(other.certificatePem);
  t.equal((await tokenRequest(assertionForm(tenant, await assertion(tenant, other, 'x5t#S256')))).status, 200, 'accepted once registered');
});

t.test('user tokens for the daemon API verify against the JWKS; more than 200 groups overflow', async (t) => {
  const { tenant, dispatcher } = await tenantFor(t);
  const user = tenant.directory.users[0]!;
  const audience = 'api://amsd';
  const token = await tenant.issueUserToken({ oid: user.id, audience, groups: ['g1', 'g2'], preferredUsername: user.userPrincipalName });
  const { config, keySet } = await jwks(tenant, dispatcher);
  const { payload } = await jwtVerify(token, keySet, { issuer: config.issuer, audience, algorithms: ['RS256'] });
  t.match(payload, { oid: user.id, tid: tenant.tenantId, groups: ['g1', 'g2'], preferred_username: user.userPrincipalName });
  const many = decodeJwt(await tenant.issueUserToken({ oid: user.id, audience, groups: Array.from({ length: 201 }, (_, i) => `g${i}`) }));
  t.notOk('groups' in many);
  t.same(many._claim_names, { groups: 'src1' });
  await t.rejects(jwtVerify(token, keySet, { issuer: config.issuer, audience: 'https://graph.microsoft.com' }), 'audience is checked');
});

t.test("the daemon's token provider gets tokens through MSAL by secret and by certificate", async (t) => {
  const { tenant, dispatcher } = await tenantFor(t);
  const common = { tenantId: tenant.tenantId, clientId: tenant.app.clientId, authorityHost: tenant.authorityHost, graphResource: 'https://graph.microsoft.com', dispatcher };

  const bySecret = createTokenProvider({ ...common, credential: { type: 'secret', clientSecret: tenant.app.clientSecret } });
  const token = await bySecret.getToken();
  t.equal(decodeJwt(token).aud, 'https://graph.microsoft.com');
  t.equal(await bySecret.getToken(), token, "the second call is served from MSAL's cache");

  const { certificate } = tenant.app;
  const byCertificate = createTokenProvider({
    ...common,
    credential: { type: 'certificate', privateKeyPem: certificate.privateKeyPem, thumbprintSha256: certificate.thumbprintSha256, certificatePem: certificate.certificatePem },
  });
  t.equal(decodeJwt(await byCertificate.getToken()).appid, tenant.app.clientId);
  t.equal(tenant.callCount(`/${tenant.tenantId}/oauth2/v2.0/token`), 2, 'one token request each');
  t.equal(tenant.callCount(`/${tenant.tenantId}/v2.0/.well-known/openid-configuration`), 2, 'the daemon read the metadata itself, once per client');

  const wrong = createTokenProvider({ ...common, credential: { type: 'secret', clientSecret: 'not-the-secret' } });
  await t.rejects(wrong.getToken(), /AADSTS7000215/, "a wrong secret fails with Entra's own error code");
});
