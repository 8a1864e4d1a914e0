/**
 * Entra tenants as an administrator configures them: added with a client secret or a certificate,
 * the secret part sealed at rest and never shown, changed, disabled and removed, and refused to users.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sealingContext } from '../../daemon/directory/tenant-service.js';
import { assertMatchesSpec, startTestDaemon, stateFilesText, storedState, tempDir, type TestContext } from '../helpers.js';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const OTHER_TENANT = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const CLIENT = '11111111-2222-4333-8444-555555555555';
const SECRET = 'Xq8~s3cr3t.value-that-must-never-leak';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const needsOpenssl = { skip: hasOpenssl ? false : 'openssl is needed to make a test certificate' };

async function makeCertificate(t: TestContext, name: string): Promise<{ cert: string; key: string }> {
  const dir = await tempDir(t);
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const openssl = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-subj', `/CN=${name}`, '-days', '2', '-keyout', key, '-out', cert], { encoding: 'utf8' });
  t.equal(openssl.status, 0, `openssl made a test certificate ${openssl.stderr}`);
  return { cert: await readFile(cert, 'utf8'), key: await readFile(key, 'utf8') };
}

const thumbprintOf = (pem: string) => new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();

t.test('an admin adds a tenant with a client secret, which is sealed and never shown', async (t) => {
  const d = await startTestDaemon(t);
  const created = await d.call({
    method: 'POST',
    url: '/v1/tenants',
    body: { tenantId: TENANT.toUpperCase(), displayName: 'contoso.onmicrosoft.com', clientId: CLIENT, clientSecret: SECRET },
  });
  t.equal(created.statusCode, 201, created.body);
  assertMatchesSpec(t, created, 'createTenant');
  t.equal(created.headers.location, `/v1/tenants?tenantId=${TENANT}`);
  t.equal(created.headers['cache-control'], 'no-store');
  t.notOk(created.body.includes(SECRET), 'the response does not contain the secret');
  t.match(created.json(), {
    tenantId: TENANT,
    displayName: 'contoso.onmicrosoft.com',
    clientId: CLIENT,
    credentialType: 'secret',
    cloud: 'Global',
    authorityHost: 'https://login.microsoftonline.com',
    graphEndpoint: 'https://graph.microsoft.com',
    customEndpoints: false,
    enabled: true,
    createdBy: 'bootstrap-admin',
  });
  t.notOk('clientSecret' in created.json());
  t.notOk('certificateThumbprint' in created.json());

  const list = await d.call({ url: '/v1/tenants' });
  t.equal(list.statusCode, 200);
  assertMatchesSpec(t, list, 'listTenants');
  t.same(list.json().items, [created.json()]);
  t.notOk(list.body.includes(SECRET), 'the list does not contain the secret');
  t.notOk(/sealed|clientSecret/.test(list.body), 'nor the sealed value');

  const filtered = await d.call({ url: `/v1/tenants?tenantId=${TENANT.toUpperCase()}` });
  assertMatchesSpec(t, filtered, 'listTenants');
  t.equal(filtered.json().items.length, 1, 'the list filters by tenant id');
  const none = await d.call({ url: `/v1/tenants?tenantId=${OTHER_TENANT}` });
  t.same(none.json(), { items: [] });

  const onDisk = await stateFilesText(d.dataDir);
  t.notOk(onDisk.includes(SECRET), 'the data file does not hold the secret in clear');
  const stored = (await storedState(d.dataDir)).tenants[0]! as any;
  t.equal(stored.credential.type, 'secret');
  t.equal(d.sealer.unseal(stored.credential.sealedClientSecret, `tenant:${TENANT}:clientSecret`), SECRET, 'the sealed value opens to the secret');
  t.equal(sealingContext(TENANT, 'clientSecret'), `tenant:${TENANT}:clientSecret`);
  t.throws(() => d.sealer.unseal(stored.credential.sealedClientSecret, `tenant:${OTHER_TENANT}:clientSecret`), 'bound to its tenant');

  const internal = d.tenants.getWithCredential(TENANT);
  t.same(internal.credential, { type: 'secret', clientSecret: SECRET }, 'the daemon itself can unseal it to sign in');
});

t.test('an admin adds a tenant with a certificate', needsOpenssl, async (t) => {
  const d = await startTestDaemon(t);
  const { cert, key } = await makeCertificate(t, 'amsd-test');
  const created = await d.call({
    method: 'POST',
    url: '/v1/tenants',
    body: { tenantId: TENANT, displayName: 'Contoso', clientId: CLIENT, certificatePem: cert, privateKeyPem: key },
  });
  t.equal(created.statusCode, 201, created.body);
  assertMatchesSpec(t, created, 'createTenant');
  const body = created.json();
  t.equal(body.credentialType, 'certificate');
  t.equal(body.certificateThumbprint, thumbprintOf(cert), 'the thumbprint is the SHA-256 fingerprint of the certificate');
  t.equal(body.certificateExpiresAt, new Date(new X509Certificate(cert).validTo).toISOString());
  t.ok(Date.parse(body.certificateExpiresAt) > Date.now());
  const keyBody = key.split('\n').filter((line) => !line.startsWith('-----')).join('');
  t.notOk(created.body.includes(keyBody.slice(0, 40)), 'the response does not contain the private key');

  const list = await d.call({ url: '/v1/tenants' });
  assertMatchesSpec(t, list, 'listTenants');
  t.notOk(list.body.includes('PRIVATE KEY'));
  const onDisk = await stateFilesText(d.dataDir);
  t.notOk(onDisk.includes('PRIVATE KEY'), 'the data file holds no private key in clear');
  t.notOk(onDisk.includes(keyBody.slice(0, 40)));

  const internal = d.tenants.getWithCredential(TENANT);
  t.equal(internal.credential.type, 'certificate');
  if (internal.credential.type === 'certificate') {
    t.match(internal.credential.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/, 'the key is unsealed as PKCS#8 PEM for MSAL');
    t.equal(internal.credential.thumbprintSha256, thumbprintOf(cert));
    t.ok(new X509Certificate(internal.credential.certificatePem!).checkPrivateKey(
      (await import('node:crypto')).createPrivateKey(internal.credential.privateKeyPem),
    ), 'the unsealed key is the certificate\'s');
  }
});

t.test('a certificate with another certificate\'s key, or unreadable PEM, is refused naming the field', needsOpenssl, async (t) => {
  const d = await startTestDaemon(t);
  const one = await makeCertificate(t, 'one');
  const two = await makeCertificate(t, 'two');
  const base = { tenantId: TENANT, displayName: 'Contoso', clientId: CLIENT };

  const mismatch = await d.call({ method: 'POST', url: '/v1/tenants', body: { ...base, certificatePem: one.cert, privateKeyPem: two.key } });
  t.equal(mismatch.statusCode, 400);
  assertMatchesSpec(t, mismatch, 'createTenant');
  t.match(mismatch.json().errors, [{ path: 'body/privateKeyPem', message: /not the private key of the certificate/ }]);
  t.notOk(mismatch.body.includes(two.key.split('\n')[1]!), 'the refusal does not echo the key');

  const garbledCert = await d.call({ method: 'POST', url: '/v1/tenants', body: { ...base, certificatePem: '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n', privateKeyPem: one.key } });
  t.equal(garbledCert.statusCode, 400);
  assertMatchesSpec(t, garbledCert, 'createTenant');
  t.match(garbledCert.json().errors, [{ path: 'body/certificatePem' }]);

  const notPem = await d.call({ method: 'POST', url: '/v1/tenants', body: { ...base, certificatePem: 'hello', privateKeyPem: 'world' } });
  t.equal(notPem.statusCode, 400);
  t.same(notPem.json().errors.map((e: { path: string }) => e.path).sort(), ['body/certificatePem', 'body/privateKeyPem']);

  const garbledKey = await d.call({ method: 'POST', url: '/v1/tenants', body: { ...base, certificatePem: one.cert, privateKeyPem: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' } });
  t.equal(garbledKey.statusCode, 400);
  t.match(garbledKey.json().errors, [{ path: 'body/privateKeyPem', message: /could not be read/ }]);

  t.same((await d.call({ url: '/v1/tenants' })).json().items, [], 'nothing was added');
});

t.test('exactly one credential is required', async (t) => {
  const d = await startTestDaemon(t);
  const base = { tenantId: TENANT, displayName: 'Contoso', clientId: CLIENT };

  const neither = await d.call({ method: 'POST', url: '/v1/tenants', body: base });
  t.equal(neither.statusCode, 400);
  assertMatchesSpec(t, neither, 'createTenant');
  t.same(neither.json().errors.map((e: { path: string }) => e.path), ['body/clientSecret', 'body/certificatePem']);
  t.match(neither.json().detail, /one credential/);

  const both = await d.call({ method: 'POST', url: '/v1/tenants', body: { ...base, clientSecret: SECRET, certificatePem: 'x', privateKeyPem: 'y' } });
  t.equal(both.statusCode, 400);
  assertMatchesSpec(t, both, 'createTenant');
  t.match(both.json().errors, [{ path: 'body/clientSecret', message: /not both.*certificatePem and privateKeyPem/ }]);
  t.notOk(both.body.includes(SECRET), 'the refusal does not echo the secret');

  const halfCert = await d.call({ method: 'POST', url: '/v1/tenants', body: { ...base, certificatePem: 'x' } });
  t.equal(halfCert.statusCode, 400);
  t.match(halfCert.json().errors, [{ path: 'body/privateKeyPem', message: /go together/ }]);
});

t.test('bad tenant requests name what to fix', async (t) => {
  const d = await startTestDaemon(t);
  const base = { tenantId: TENANT, displayName: 'Contoso', clientId: CLIENT, clientSecret: SECRET };

  const badGuid = await d.call({ method: 'POST', url: '/v1/tenants', body: { ...base, tenantId: 'contoso.onmicrosoft.com' } });
  t.equal(badGuid.statusCode, 400);
  assertMatchesSpec(t, badGuid, 'createTenant');
  t.match(badGuid.json().errors, [{ path: 'body/tenantId', message: /valid uuid/ }]);

  const unknownField = await d.call({ method: 'POST', url: '/v1/tenants', body: { ...base, clientSecrte: 'typo' } });
  t.equal(unknownField.statusCode, 400);
  t.match(unknownField.json().errors, [{ path: 'body/clientSecrte', message: /not a known field/ }]);

  const badCloud = await d.call({ method: 'POST', url: '/v1/tenants', body: { ...base, cloud: 'Mars' } });
  t.equal(badCloud.statusCode, 400);
  t.match(badCloud.json().errors, [{ path: 'body/cloud', message: /Global, USGov, USGovDoD, China/ }]);

  const http = await d.call({ method: 'POST', url: '/v1/tenants', body: { ...base, authorityHost: 'http://login.example.net' } });
  t.equal(http.statusCode, 400);
  t.match(http.json().errors, [{ path: 'body/authorityHost' }]);
  const query = await d.call({ method: 'POST', url: '/v1/tenants', body: { ...base, graphEndpoint: 'https://graph.example.net/?x=1' } });
  t.equal(query.statusCode, 400);
  t.match(query.json().errors, [{ path: 'body/graphEndpoint', message: /query/ }]);

  const blank = await d.call({ method: 'POST', url: '/v1/tenants', body: { ...base, displayName: '  ' } });
  t.equal(blank.statusCode, 400);
  t.match(blank.json().errors, [{ path: 'body/displayName' }]);

  const first = await d.call({ method: 'POST', url: '/v1/tenants', body: base });
  t.equal(first.statusCode, 201);
  const duplicate = await d.call({ method: 'POST', url: '/v1/tenants', body: { ...base, tenantId: TENANT.toUpperCase(), displayName: 'Again' } });
  t.equal(duplicate.statusCode, 409);
  assertMatchesSpec(t, duplicate, 'createTenant');
  t.match(duplicate.json().detail, /already configured \(as 'Contoso'\)/);

  const badFilter = await d.call({ url: '/v1/tenants?tenantId=nope' });
  t.equal(badFilter.statusCode, 400);
  assertMatchesSpec(t, badFilter, 'listTenants');
  t.match(badFilter.json().errors, [{ path: 'query/tenantId' }]);

  const badParam = await d.call({ method: 'DELETE', url: '/v1/tenants/contoso' });
  t.equal(badParam.statusCode, 400);
  assertMatchesSpec(t, badParam, 'deleteTenant');
  t.match(badParam.json().errors, [{ path: 'params/tenantId' }]);
});

t.test('the effective endpoints follow the cloud unless overridden', async (t) => {
  const d = await startTestDaemon(t);
  const expected = {
    Global: ['https://login.microsoftonline.com', 'https://graph.microsoft.com'],
    USGov: ['https://login.microsoftonline.us', 'https://graph.microsoft.us'],
    USGovDoD: ['https://login.microsoftonline.us', 'https://dod-graph.microsoft.us'],
    China: ['https://login.chinacloudapi.cn', 'https://microsoftgraph.chinacloudapi.cn'],
  } as const;
  let n = 0;
  for (const [cloud, [authorityHost, graphEndpoint]] of Object.entries(expected)) {
    const tenantId = `0000000${n++}-0000-4000-8000-000000000000`;
    const res = await d.call({ method: 'POST', url: '/v1/tenants', body: { tenantId, displayName: cloud, clientId: CLIENT, clientSecret: SECRET, cloud } });
    t.equal(res.statusCode, 201, cloud);
    assertMatchesSpec(t, res, 'createTenant');
    t.match(res.json(), { cloud, authorityHost, graphEndpoint, customEndpoints: false }, cloud);
  }
  const custom = await d.call({
    method: 'POST',
    url: '/v1/tenants',
    body: { tenantId: TENANT, displayName: 'Private', clientId: CLIENT, clientSecret: SECRET, cloud: 'USGov', authorityHost: 'https://127.0.0.1:8443/', graphEndpoint: 'https://graph.example.net/root/' },
  });
  t.equal(custom.statusCode, 201);
  assertMatchesSpec(t, custom, 'createTenant');
  t.match(custom.json(), { cloud: 'USGov', authorityHost: 'https://127.0.0.1:8443', graphEndpoint: 'https://graph.example.net/root', customEndpoints: true });

  const reset = await d.call({ method: 'PATCH', url: `/v1/tenants/${TENANT}`, body: { authorityHost: null } });
  t.equal(reset.statusCode, 200);
  assertMatchesSpec(t, reset, 'updateTenant');
  t.match(reset.json(), { authorityHost: 'https://login.microsoftonline.us', graphEndpoint: 'https://graph.example.net/root', customEndpoints: true });
  const both = await d.call({ method: 'PATCH', url: `/v1/tenants/${TENANT}`, body: { graphEndpoint: null, cloud: 'China' } });
  t.match(both.json(), { cloud: 'China', authorityHost: 'https://login.chinacloudapi.cn', graphEndpoint: 'https://microsoftgraph.chinacloudapi.cn', customEndpoints: false });
});

t.test('an admin renames, disables and switches the credential of a tenant', needsOpenssl, async (t) => {
  const d = await startTestDaemon(t);
  const created = await d.call({ method: 'POST', url: '/v1/tenants', body: { tenantId: TENANT, displayName: 'Contoso', clientId: CLIENT, clientSecret: SECRET } });
  t.equal(created.statusCode, 201);

  const renamed = await d.call({ method: 'PATCH', url: `/v1/tenants/${TENANT}`, body: { displayName: 'Contoso Ltd', enabled: false } });
  t.equal(renamed.statusCode, 200);
  assertMatchesSpec(t, renamed, 'updateTenant');
  t.match(renamed.json(), { displayName: 'Contoso Ltd', enabled: false, credentialType: 'secret', modifiedBy: 'bootstrap-admin', createdAt: created.json().createdAt });
  t.ok(renamed.json().modifiedAt);
  t.same(d.tenants.getWithCredential(TENANT).credential, { type: 'secret', clientSecret: SECRET }, 'the secret is kept when not given');

  const { cert, key } = await makeCertificate(t, 'switch');
  const toCert = await d.call({ method: 'PATCH', url: `/v1/tenants/${TENANT}`, body: { certificatePem: cert, privateKeyPem: key } });
  t.equal(toCert.statusCode, 200, toCert.body);
  assertMatchesSpec(t, toCert, 'updateTenant');
  t.match(toCert.json(), { credentialType: 'certificate', certificateThumbprint: thumbprintOf(cert) });
  let stored = (await storedState(d.dataDir)).tenants[0]! as any;
  t.same(Object.keys(stored.credential).sort(), ['certificatePem', 'expiresAt', 'sealedPrivateKeyPem', 'thumbprint', 'type'], 'the old sealed secret is dropped');

  const NEW_SECRET = 'another~secret~value';
  const toSecret = await d.call({ method: 'PATCH', url: `/v1/tenants/${TENANT}`, body: { clientSecret: NEW_SECRET, enabled: true } });
  t.equal(toSecret.statusCode, 200);
  assertMatchesSpec(t, toSecret, 'updateTenant');
  t.notOk(toSecret.body.includes(NEW_SECRET));
  t.match(toSecret.json(), { credentialType: 'secret', enabled: true });
  t.notOk('certificateThumbprint' in toSecret.json(), 'no certificate is described any more');
  stored = (await storedState(d.dataDir)).tenants[0]! as any;
  t.same(Object.keys(stored.credential).sort(), ['sealedClientSecret', 'type'], 'the old sealed key is dropped');
  t.equal(d.sealer.unseal(stored.credential.sealedClientSecret, `tenant:${TENANT}:clientSecret`), NEW_SECRET);
});

t.test('bad updates are refused and change nothing', async (t) => {
  const d = await startTestDaemon(t);
  await d.call({ method: 'POST', url: '/v1/tenants', body: { tenantId: TENANT, displayName: 'Contoso', clientId: CLIENT, clientSecret: SECRET } });

  const empty = await d.call({ method: 'PATCH', url: `/v1/tenants/${TENANT}`, body: {} });
  t.equal(empty.statusCode, 400);
  assertMatchesSpec(t, empty, 'updateTenant');

  const unknownField = await d.call({ method: 'PATCH', url: `/v1/tenants/${TENANT}`, body: { tenantId: OTHER_TENANT } });
  t.equal(unknownField.statusCode, 400);
  t.match(unknownField.json().errors, [{ path: 'body/tenantId', message: /not a known field/ }]);

  const both = await d.call({ method: 'PATCH', url: `/v1/tenants/${TENANT}`, body: { clientSecret: 'x', privateKeyPem: 'y' } });
  t.equal(both.statusCode, 400);
  t.match(both.json().errors, [{ path: 'body/clientSecret' }]);

  const missing = await d.call({ method: 'PATCH', url: `/v1/tenants/${OTHER_TENANT}`, body: { enabled: false } });
  t.equal(missing.statusCode, 404);
  assertMatchesSpec(t, missing, 'updateTenant');
  t.match(missing.json().detail, /listTenants \(GET \/v1\/tenants\) lists/);

  const [tenant] = (await d.call({ url: '/v1/tenants' })).json().items;
  t.match(tenant, { displayName: 'Contoso', enabled: true });
  t.notOk(tenant.modifiedAt, 'never modified');
});

t.test('an admin removes a tenant', async (t) => {
  const d = await startTestDaemon(t);
  await d.call({ method: 'POST', url: '/v1/tenants', body: { tenantId: TENANT, displayName: 'Contoso', clientId: CLIENT, clientSecret: SECRET } });
  const removed = await d.call({ method: 'DELETE', url: `/v1/tenants/${TENANT}` });
  t.equal(removed.statusCode, 204);
  assertMatchesSpec(t, removed, 'deleteTenant');
  t.same((await d.call({ url: '/v1/tenants' })).json(), { items: [] });
  t.same((await storedState(d.dataDir)).tenants, [], 'it is gone from the state');
  t.throws(() => d.tenants.getWithCredential(TENANT), /No tenant/);

  const again = await d.call({ method: 'DELETE', url: `/v1/tenants/${TENANT}` });
  t.equal(again.statusCode, 404);
  assertMatchesSpec(t, again, 'deleteTenant');
  await d.app.close();
  t.notOk((await stateFilesText(d.dataDir)).includes('sealedClientSecret'), 'once the journal is folded (at the latest on close), its sealed secret is gone from the files');
});

t.test('user keys cannot see or change tenants', async (t) => {
  const d = await startTestDaemon(t);
  await d.call({ method: 'POST', url: '/v1/tenants', body: { tenantId: TENANT, displayName: 'Contoso', clientId: CLIENT, clientSecret: SECRET } });
  const user = (await d.call({ method: 'POST', url: '/v1/api-keys', body: { name: 'reader', role: 'user' } })).json();
  const cases = [
    ['listTenants', 'GET', '/v1/tenants', undefined],
    ['createTenant', 'POST', '/v1/tenants', { tenantId: OTHER_TENANT, displayName: 'x', clientId: CLIENT, clientSecret: 'x' }],
    ['updateTenant', 'PATCH', `/v1/tenants/${TENANT}`, { enabled: false }],
    ['deleteTenant', 'DELETE', `/v1/tenants/${TENANT}`, undefined],
  ] as const;
  for (const [operationId, method, url, body] of cases) {
    const res = await d.call({ method, url, key: user.key, ...(body ? { body } : {}) });
    t.equal(res.statusCode, 403, `${method} ${url}`);
    assertMatchesSpec(t, res, operationId);
    t.match(res.json().detail, /for administrators/);
  }
  const unauthenticated = await d.call({ url: '/v1/tenants', key: null });
  t.equal(unauthenticated.statusCode, 401);
  assertMatchesSpec(t, unauthenticated, 'listTenants');
  t.match((await d.call({ url: '/v1/tenants' })).json().items, [{ displayName: 'Contoso', enabled: true }], 'nothing changed');
});

t.test('the tenants a read by name searches are the enabled ones, as they are now', async (t) => {
  const d = await startTestDaemon(t);
  t.same(d.tenants.enabledTenantIds(), []);
  for (const [tenantId, displayName] of [[TENANT, 'Contoso'], [OTHER_TENANT, 'Adatum']]) {
    t.equal((await d.call({ method: 'POST', url: '/v1/tenants', body: { tenantId, displayName, clientId: CLIENT, clientSecret: SECRET } })).statusCode, 201);
  }
  t.same(d.tenants.enabledTenantIds(), [OTHER_TENANT, TENANT], "in listTenants' order (by display name)");
  t.equal(d.tenants.enabledTenantIds(), d.tenants.enabledTenantIds(), 'kept while the tenants do not change');
  t.equal((await d.call({ method: 'PATCH', url: `/v1/tenants/${TENANT}`, body: { enabled: false } })).statusCode, 200);
  t.same(d.tenants.enabledTenantIds(), [OTHER_TENANT], 'a disabled tenant drops out at once');
  t.equal((await d.call({ method: 'DELETE', url: `/v1/tenants/${OTHER_TENANT}` })).statusCode, 204);
  t.same(d.tenants.enabledTenantIds(), [], 'so does a removed one');
});
