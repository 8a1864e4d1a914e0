/**
 * The security sweep, driven by the contract: every operation whose security is not empty is called
 * with no credential, malformed Authorization headers, revoked and expired API keys, and Entra ID
 * tokens that must be refused (unsigned, signed by a key that is not the tenant's, for another
 * audience, from another tenant, expired...). Each must be a 401 problem+json with WWW-Authenticate;
 * a valid user-role credential on an operation marked `x-ams-role: admin` must be a 403. Operations
 * get valid-looking path and query values, and each one with a body is called twice: with a minimal
 * body valid by its schema, and with none (authentication comes before the body is even read).
 * Nothing refused may change the state. Ends with a table of the figures.
 */
import { randomUUID, webcrypto } from 'node:crypto';
import { createAjv } from '../../daemon/common/ajv.js';
import { SignJWT, decodeProtectedHeader, generateKeyPair, importJWK, type JWK } from 'jose';
import t from 'tap';
import { recordFigures } from './figures.js';
import { Agent, fetch } from 'undici';
import { listOperations, loadSpec, type JsonSchema, type Operation } from '../../openapi/contract.js';
import { createKey, registerTenant, simulatedTenantFor, startTestDaemon, type TestContext, type TestDaemon } from '../helpers.js';

const AUDIENCE = 'api://amsd-sweep';
/** The operations the contract leaves open; any other one found open fails the sweep. */
const PUBLIC_OPERATIONS = ['getHealth', 'getAuthConfig'];

const ajv = createAjv({ allErrors: true, strict: false });

/** The smallest value a schema accepts, with valid-looking strings (uuids, dates, addresses). */
function minimalValue(schema: JsonSchema): unknown {
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if (Array.isArray(schema.allOf)) return minimalValue(Object.assign({}, ...(schema.allOf as JsonSchema[])));
  const type = Array.isArray(schema.type) ? schema.type.find((ty) => ty !== 'null') : schema.type;
  switch (type) {
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
      const oneOf = (schema.oneOf ?? schema.anyOf) as JsonSchema[] | undefined;
      const required = [...((schema.required as string[] | undefined) ?? []), ...((oneOf?.[0]?.required as string[] | undefined) ?? [])];
      if (required.length === 0 && typeof schema.minProperties === 'number' && schema.minProperties > 0) {
        required.push(...Object.keys(properties).slice(0, schema.minProperties));
      }
      return Object.fromEntries(required.map((name) => [name, minimalValue(properties[name] ?? { type: 'string' })]));
    }
    case 'array':
      return Array.from({ length: Number(schema.minItems ?? 0) }, () => minimalValue((schema.items ?? {}) as JsonSchema));
    case 'integer':
    case 'number':
      return Number(schema.minimum ?? 1);
    case 'boolean':
      return false;
    default:
      switch (schema.format) {
        case 'uuid':
          return randomUUID();
        case 'date-time':
          return new Date(Date.now() + 86_400_000).toISOString();
        case 'email':
          return 'someone@contoso.example';
        case 'uri':
          return 'https://receiver.example/hook';
      }
      return 'x'.repeat(Math.max(1, Number(schema.minLength ?? 1)));
  }
}

interface Request {
  url: string;
  body?: unknown;
}

/** A request to the operation with valid-looking path and query values, and its body if it takes one. */
function requestFor(operation: Operation): Request {
  const params = (operation.schema.params?.properties ?? {}) as Record<string, JsonSchema>;
  const path = operation.path.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(String(minimalValue(params[name] ?? { format: 'uuid' }))));
  const query = operation.schema.querystring ? (minimalValue(operation.schema.querystring) as Record<string, unknown>) : {};
  const search = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString();
  return { url: search ? `${path}?${search}` : path, ...(operation.schema.body ? { body: minimalValue(operation.schema.body) } : {}) };
}

interface Credential {
  name: string;
  group: 'none' | 'malformed' | 'revoked' | 'expired' | 'entra';
  /** The Authorization header, or none. */
  header?: string;
}

interface WrongAnswer {
  operation: string;
  credential: string;
  withBody: boolean;
  status: number;
  why: string;
}

/** Unsigned JWT (`alg: none`) with the given claims. */
function unsignedJwt(claims: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims)}.`;
}

async function setUp(t: TestContext) {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 5 });
  const daemon = await startTestDaemon(t, undefined, { caFile });
  await registerTenant(t, daemon, tenant);
  const admins = tenant.directory.groups.find((g) => g.displayName === 'AMS-Admins')!;
  const signIn = await daemon.call({
    method: 'PATCH',
    url: `/v1/tenants/${tenant.tenantId}`,
    body: { userSignInAudiences: [AUDIENCE], userSignInClientId: randomUUID(), administratorIds: [admins.id] },
  });
  t.equal(signIn.statusCode, 200, `user sign-in configured: ${signIn.body}`);
  return { tenant, daemon, admins };
}

/** Keys that are no longer good: revoked, and expired (created valid, then their expiry moved into the past in the store). */
async function deadKeys(t: TestContext, daemon: TestDaemon) {
  const revoked: Record<string, string> = {};
  const expired: Record<string, string> = {};
  for (const role of ['admin', 'user'] as const) {
    revoked[role] = await createKey(t, daemon, { name: `revoked-${role}`, role });
    const id = (await daemon.call({ url: '/v1/api-keys' })).json().items.find((k: { name: string }) => k.name === `revoked-${role}`).id;
    t.equal((await daemon.call({ method: 'DELETE', url: `/v1/api-keys/${id}` })).statusCode, 200, `revoked-${role} revoked`);

    // Expiry is checked against the clock on every request (keyStatus); a key cannot be created already
    // expired, so it is created for an hour and its stored expiry then moved an hour into the past.
    const name = `expired-${role}`;
    expired[role] = await createKey(t, daemon, { name, role, expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
    t.equal((await daemon.call({ url: '/v1/me', key: expired[role] })).statusCode, 200, `${name} works before it expires`);
    await daemon.store.mutate((draft) => {
      const stored = draft.rows('apiKeys').find((k) => k.name === name)!;
      draft.put('apiKeys', { ...stored, expiresAt: new Date(Date.now() - 3_600_000).toISOString() });
    });
  }
  const statuses = Object.fromEntries((await daemon.call({ url: '/v1/api-keys' })).json().items.map((k: { name: string; status: string }) => [k.name, k.status]));
  t.match(statuses, { 'revoked-admin': 'revoked', 'revoked-user': 'revoked', 'expired-admin': 'expired', 'expired-user': 'expired' }, 'the dead keys are listed as such');
  return { revoked, expired };
}

t.test('every non-public operation: 401 for every bad credential, 403 for a user on an admin operation', async (t) => {
  const { tenant, daemon, admins } = await setUp(t);
  const spec = loadSpec();
  const operations = listOperations(spec);
  t.same(
    operations.filter((op) => !op.authenticated).map((op) => op.operationId),
    PUBLIC_OPERATIONS,
    'the contract leaves only health and the sign-in configuration open',
  );
  const guarded = operations.filter((op) => op.authenticated);

  const userKey = await createKey(t, daemon, { name: 'sweep-user', role: 'user' });
  const { revoked, expired } = await deadKeys(t, daemon);
  const adminKey = daemon.adminKey;

  // An administrator (through AMS-Admins) and a plain user of the tenant: every refused token is the
  // administrator's, so that a token let through would be a full admin.
  const adminUser = tenant.directory.users[0]!;
  const plainUser = tenant.directory.users[tenant.directory.users.length - 1]!;
  const now = Math.floor(Date.now() / 1000);
  const validToken = await tenant.issueUserToken({ oid: adminUser.id, audience: AUDIENCE, groups: [admins.id] });
  const userToken = await tenant.issueUserToken({ oid: plainUser.id, audience: AUDIENCE, groups: [] });
  const { kid } = decodeProtectedHeader(validToken);
  const goodClaims = { aud: AUDIENCE, iss: `${tenant.authorityHost}/${tenant.tenantId}/v2.0`, tid: tenant.tenantId, oid: adminUser.id, groups: [admins.id], ver: '2.0', iat: now, nbf: now, exp: now + 3600 };

  // Claims the tenant would sign, signed by a key pair of our own (with the tenant's key id).
  const stranger = await generateKeyPair('RS256');
  const forged = await new SignJWT(goodClaims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(kid ? { kid } : {}) }).sign(stranger.privateKey);
  // Algorithm confusion: HS256 keyed with the tenant's public key (its JWKS is public).
  const agent = new Agent({ connect: { ca: tenant.caCertificatePem } });
  t.teardown(() => agent.close());
  const jwks = (await (await fetch(`${tenant.authority}/discovery/v2.0/keys`, { dispatcher: agent })).json()) as { keys: JWK[] };
  const tenantJwk = jwks.keys[0]!;
  const publicPem = await exportPublicPem(tenantJwk);
  const hs256 = await new SignJWT(goodClaims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(publicPem));
  // A signature that is the tenant's, over other claims: the user id swapped for another's.
  const [head, , signature] = validToken.split('.');
  const tampered = `${head}.${Buffer.from(JSON.stringify({ ...goodClaims, oid: plainUser.id })).toString('base64url')}.${signature}`;
  // Entra signs every tenant's tokens with the same keys: only the issuer binds a token to its tenant.
  const otherTenantId = randomUUID();

  const swapPrefix = (key: string, prefix: string) => prefix + key.slice('ams_'.length);
  const credentials: Credential[] = [
    { name: 'no Authorization header', group: 'none' },
    { name: '"Bearer" alone', group: 'malformed', header: 'Bearer' },
    { name: '"Bearer " and nothing', group: 'malformed', header: 'Bearer ' },
    { name: '"Basic x"', group: 'malformed', header: 'Basic x' },
    { name: 'Basic with a valid admin key as user name', group: 'malformed', header: `Basic ${Buffer.from(`${adminKey}:`).toString('base64')}` },
    { name: 'a valid admin key with no scheme', group: 'malformed', header: adminKey },
    { name: '"Bearer not-a-key"', group: 'malformed', header: 'Bearer not-a-key' },
    { name: 'a valid admin key under the prefix amx_', group: 'malformed', header: `Bearer ${swapPrefix(adminKey, 'amx_')}` },
    { name: 'a valid admin key under the prefix AMS_', group: 'malformed', header: `Bearer ${swapPrefix(adminKey, 'AMS_')}` },
    { name: 'a valid admin key, one character short', group: 'malformed', header: `Bearer ${adminKey.slice(0, -1)}` },
    { name: 'a valid admin key, twice', group: 'malformed', header: `Bearer ${adminKey} ${adminKey}` },
    { name: 'revoked admin key', group: 'revoked', header: `Bearer ${revoked.admin}` },
    { name: 'revoked user key', group: 'revoked', header: `Bearer ${revoked.user}` },
    { name: 'expired admin key', group: 'expired', header: `Bearer ${expired.admin}` },
    { name: 'expired user key', group: 'expired', header: `Bearer ${expired.user}` },
    { name: 'Entra: alg none', group: 'entra', header: `Bearer ${unsignedJwt(goodClaims)}` },
    { name: 'Entra: signed by an unknown key', group: 'entra', header: `Bearer ${forged}` },
    { name: "Entra: HS256 keyed with the tenant's public key", group: 'entra', header: `Bearer ${hs256}` },
    { name: "Entra: the tenant's signature over changed claims", group: 'entra', header: `Bearer ${tampered}` },
    { name: 'Entra: wrong audience', group: 'entra', header: `Bearer ${await tenant.issueUserToken({ oid: adminUser.id, audience: 'api://another-app', groups: [admins.id] })}` },
    { name: 'Entra: for Microsoft Graph', group: 'entra', header: `Bearer ${await tenant.issueUserToken({ oid: adminUser.id, audience: 'https://graph.microsoft.com', groups: [admins.id] })}` },
    {
      name: "Entra: another tenant's issuer",
      group: 'entra',
      header: `Bearer ${await tenant.issueUserToken({ oid: adminUser.id, audience: AUDIENCE, groups: [admins.id], claims: { iss: `${tenant.authorityHost}/${otherTenantId}/v2.0` } })}`,
    },
    {
      name: 'Entra: another tenant altogether',
      group: 'entra',
      header: `Bearer ${await tenant.issueUserToken({ oid: adminUser.id, audience: AUDIENCE, groups: [admins.id], claims: { tid: otherTenantId, iss: `${tenant.authorityHost}/${otherTenantId}/v2.0` } })}`,
    },
    { name: 'Entra: expired', group: 'entra', header: `Bearer ${await tenant.issueUserToken({ oid: adminUser.id, audience: AUDIENCE, groups: [admins.id], expiresInSeconds: -600 })}` },
    {
      name: 'Entra: not valid yet',
      group: 'entra',
      header: `Bearer ${await tenant.issueUserToken({ oid: adminUser.id, audience: AUDIENCE, groups: [admins.id], claims: { nbf: now + 3600, exp: now + 7200 } })}`,
    },
  ];
  const userCredentials = [
    { name: 'user API key', header: `Bearer ${userKey}` },
    { name: 'Entra token of a user', header: `Bearer ${userToken}` },
  ];

  // Controls: the good credentials the bad ones are made from are accepted, so every 401 below is the
  // credential's fault and not the setup's.
  const me = (header: string) => daemon.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: header } });
  t.same((await me(`Bearer ${adminKey}`)).json().role, 'admin', 'control: the admin key is accepted');
  t.same((await me(`bearer ${adminKey}`)).json().role, 'admin', 'control: the scheme is case-insensitive (RFC 9110)');
  t.same((await me(`Bearer ${validToken}`)).json(), { kind: 'entra', displayName: adminUser.id, role: 'admin', tenantId: tenant.tenantId, principalId: adminUser.id }, 'control: a good admin token is accepted');
  t.same((await me(`Bearer ${userKey}`)).json().role, 'user', 'control: the user key is accepted');
  t.same((await me(`Bearer ${userToken}`)).json().role, 'user', "control: the user's token is accepted, with the user role");

  for (const operation of guarded) {
    const { body } = requestFor(operation);
    if (body === undefined) continue;
    const validate = ajv.compile(operation.schema.body!);
    t.ok(validate(body), `${operation.operationId}: the sweep's body ${JSON.stringify(body)} is valid by the contract ${JSON.stringify(validate.errors ?? [])}`);
  }

  const before = comparableState(daemon);
  const wrong: WrongAnswer[] = [];
  let cases = 0;
  const send = async (operation: Operation, header: string | undefined, withBody: boolean) => {
    const { url, body } = requestFor(operation);
    cases++;
    return daemon.app.inject({
      method: operation.method.toUpperCase() as 'GET',
      url,
      headers: { ...(header === undefined ? {} : { authorization: header }), ...(withBody ? { 'content-type': 'application/json' } : {}) },
      ...(withBody ? { payload: JSON.stringify(body) } : {}),
    });
  };
  const casesByGroup: Record<string, number> = {};
  for (const operation of guarded) {
    const variants = operation.schema.body ? [true, false] : [false];
    for (const withBody of variants) {
      for (const credential of credentials) {
        const res = await send(operation, credential.header, withBody);
        casesByGroup[credential.group] = (casesByGroup[credential.group] ?? 0) + 1;
        const why = refusalProblem(res, 401, credential.header);
        if (why) wrong.push({ operation: operation.operationId, credential: credential.name, withBody, status: res.statusCode, why });
      }
      if (!operation.adminOnly) continue;
      for (const credential of userCredentials) {
        const res = await send(operation, credential.header, withBody);
        casesByGroup['user on admin'] = (casesByGroup['user on admin'] ?? 0) + 1;
        const why = refusalProblem(res, 403, credential.header);
        if (why) wrong.push({ operation: operation.operationId, credential: credential.name, withBody, status: res.statusCode, why });
      }
    }
  }

  t.same(wrong, [], 'every bad credential is a 401 and every user on an admin operation a 403, all problem+json');
  t.same(comparableState(daemon), before, 'no refused request changed the state');
  t.equal(cases, Object.values(casesByGroup).reduce((a, b) => a + b, 0));

  const rows = [
    ['operations swept', String(guarded.length)],
    ['  of them admin-only', String(guarded.filter((op) => op.adminOnly).length)],
    ['  of them with a body (sent with and without it)', String(guarded.filter((op) => op.schema.body).length)],
    ['bad credentials per operation', String(credentials.length)],
    ...Object.entries(casesByGroup).map(([group, n]) => [`  cases: ${group}`, String(n)]),
    ['cases', String(cases)],
    ['wrong answers', String(wrong.length)],
  ];
  const width = Math.max(...rows.map(([label]) => label!.length));
  t.comment(['auth sweep', ...rows.map(([label, value]) => `${label!.padEnd(width)}  ${value!.padStart(5)}`)].join('\n'));
  await recordFigures('auth sweep', { 'operations swept': guarded.length, cases, 'wrong auth answers': wrong.length });
});

/** What a refusal must look like; undefined when it does, else what is wrong with it. */
function refusalProblem(res: { statusCode: number; headers: Record<string, unknown>; body: string }, status: 401 | 403, presented: string | undefined): string | undefined {
  if (res.statusCode !== status) return `expected ${status}: ${res.body.slice(0, 200)}`;
  if (!String(res.headers['content-type']).startsWith('application/problem+json')) return `content type ${String(res.headers['content-type'])}`;
  const challenge = res.headers['www-authenticate'];
  const challengeText = typeof challenge === 'string' ? challenge : Array.isArray(challenge) ? challenge.join(',') : '';
  if (status === 401 && !/^Bearer\b/.test(challengeText)) return 'no WWW-Authenticate: Bearer';
  let problem: { status?: unknown; detail?: unknown };
  try {
    problem = JSON.parse(res.body);
  } catch {
    return 'body is not JSON';
  }
  if (problem.status !== status || typeof problem.detail !== 'string' || problem.detail === '') return `problem without status or detail: ${res.body.slice(0, 200)}`;
  // The credential (or any long part of it) must not come back in the answer.
  const token = presented?.split(/\s+/).pop();
  if (token && token.length >= 16 && res.body.includes(token)) return 'the answer repeats the presented credential';
  return undefined;
}

/** The state a refused request must not touch; `lastUsedAt` of accepted keys and the audit checkpoint may move. */
function comparableState(daemon: TestDaemon) {
  const { auditTrail: _trail, ...state } = JSON.parse(JSON.stringify(daemon.store.state)) as Record<string, unknown> & { apiKeys: Record<string, unknown>[] };
  return { ...state, apiKeys: state.apiKeys.map(({ lastUsedAt: _used, ...key }) => key) };
}

async function exportPublicPem(jwk: JWK): Promise<string> {
  const key = await importJWK({ kty: jwk.kty, n: jwk.n, e: jwk.e }, 'RS256');
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', key as webcrypto.CryptoKey));
  return `-----BEGIN PUBLIC KEY-----\n${spki.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END PUBLIC KEY-----\n`;
}
