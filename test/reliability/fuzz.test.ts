/**
 * Spec-driven fuzzing (issue 11, the reliability suite): for every operation of openapi/ams.yaml, with
 * admin and user credentials, requests whose path, query, body, headers and content type are drawn
 * from the contract's schemas and from hostile values, sent into the daemon against the simulated
 * tenant. Asserted for every one: no 5xx, every error is problem+json with a detail, a refused request
 * leaves the state file as it was; after each operation: health is ok and the daemon still serves.
 *
 * Deterministic: requests are drawn with a fixed seed (AMS_FUZZ_SEED) and a fixed count per operation
 * and role (AMS_FUZZ_RUNS), so a CI run tries the same requests every time.
 */
import { join } from 'node:path';
import { type ValidateFunction } from 'ajv';
import { createAjv } from '../../daemon/common/ajv.js';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import t from 'tap';
import { STATE_FILE } from '../../daemon/daemon.js';
import { readState } from '../../daemon/store/state-files.js';
import { listOperations, loadSpec, type JsonSchema, type Operation } from '../../openapi/contract.js';
import { createKey, createRule, registerTenant, simulatedTenantFor, startTestDaemon } from '../helpers.js';
import { startReceiver } from '../notifications/fixtures.js';
import { fromSchema, hostileString, looseEncode, rarely, type Pools } from './hostile-input.js';
import { recordFigures } from './figures.js';

const SEED = Number(process.env.AMS_FUZZ_SEED ?? 20261201);
const RUNS = Number(process.env.AMS_FUZZ_RUNS ?? 150);
const PROBLEM = 'application/problem+json; charset=utf-8';

/**
 * Fields left out of generated bodies, because a valid value points the daemon at a place that does
 * not answer, which then rightly answers 502/503 (an unreachable Graph, a mandatory channel that cannot
 * be told): not a daemon fault, and it would end the depth of every later request.
 */
const UNREACHABLE_FIELDS = new Set(['authorityHost', 'graphEndpoint', 'cloud', 'mandatory']);

interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string;
  description: string;
}

const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/problem+json', 'application/json; charset=utf-16', 'application/xml', 'json', ''];
const RAW_BODIES = ['', 'null', '[]', '"x"', '1e309', '{', '{"a":', '{"computerName":"\\ud800"}', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '['.repeat(2000), 'not json', '\u0000', '{"a":1}{"b":2}'];
const BAD_AUTHORIZATIONS = ['', 'Bearer', 'Bearer ', 'Bearer  x', 'Basic Zm9vOmJhcg==', 'Bearer ams_0000000000000000', 'Bearer eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0.', 'bearer x y', 'Bearer \u00ff\u00fe'];

function stripped(schema: JsonSchema): JsonSchema {
  const properties = schema.properties as Record<string, JsonSchema> | undefined;
  const out: JsonSchema = { ...schema };
  if (properties) out.properties = Object.fromEntries(Object.entries(properties).filter(([name]) => !UNREACHABLE_FIELDS.has(name)).map(([n, s]) => [n, stripped(s)]));
  for (const key of ['oneOf', 'anyOf', 'allOf'] as const) if (Array.isArray(schema[key])) out[key] = (schema[key] as JsonSchema[]).map(stripped);
  return out;
}

function queryValue(value: unknown): string {
  return looseEncode(typeof value === 'string' ? value : JSON.stringify(value) ?? 'undefined');
}

function requestFor(operation: Operation, authorization: string, pools: Pools): fc.Arbitrary<FuzzRequest> {
  const pathParams = Object.keys((operation.schema.params?.properties ?? {}));
  const body = operation.schema.body ? stripped(operation.schema.body) : undefined;

  const path = fc.tuple(...pathParams.map(() => fc.oneof({ weight: 4, arbitrary: fromSchema({ type: 'string', format: 'uuid' }, pools) }, { weight: 1, arbitrary: hostileString }))).map((values) => {
    let url = operation.path;
    pathParams.forEach((name, i) => (url = url.replace(`{${name}}`, queryValue(values[i]) || '%20')));
    return url;
  });
  // The query as one object: valid, or valid but for one parameter (hostile, or one the operation does not know).
  const query = (operation.schema.querystring ? fromSchema(operation.schema.querystring, pools) : fc.constant({})).map((values) => {
    if (!values || typeof values !== 'object' || Array.isArray(values)) return `?${queryValue(values)}`;
    const parts = Object.entries(values as Record<string, unknown>).map(([name, value]) => `${looseEncode(name)}=${queryValue(value)}`);
    return parts.length > 0 ? '?' + parts.join('&') : '';
  });
  const payload: fc.Arbitrary<{ text?: string; contentType?: string }> = body
    ? fc.oneof(
        { weight: 8, arbitrary: fromSchema(body, pools).map((value) => ({ text: JSON.stringify(value) ?? 'null', contentType: 'application/json' })) },
        { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...RAW_BODIES), fc.constantFrom(...CONTENT_TYPES)).map(([text, contentType]) => ({ text, contentType })) },
        { weight: 1, arbitrary: fromSchema(body, pools).chain((value) => fc.constantFrom(...CONTENT_TYPES).map((contentType) => ({ text: JSON.stringify(value) ?? '', contentType }))) },
        { weight: 1, arbitrary: fc.constant({}) },
      )
    : fc.oneof({ weight: 8, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...RAW_BODIES), fc.constantFrom(...CONTENT_TYPES)).map(([text, contentType]) => ({ text, contentType })) });
  const headers = fc.record({
    authorization: fc.oneof({ weight: 9, arbitrary: fc.constant(authorization) }, { weight: 1, arbitrary: fc.constantFrom(...BAD_AUTHORIZATIONS) }),
    requestId: rarely(fc.constantFrom('ticket-1', 'a'.repeat(65), 'x"y', '../../etc/passwd', '\u00e9')),
    forwardedFor: rarely(fc.constantFrom('10.0.0.1', '::1', 'unknown', '1.2.3.4, 5.6.7.8', '999.1.1.1', 'a'.repeat(300), '')),
    accept: rarely(fc.constantFrom('application/xml', '*/*', 'text/html', '')),
  });
  const method = fc.oneof({ weight: 19, arbitrary: fc.constant(operation.method.toUpperCase()) }, { weight: 1, arbitrary: fc.constantFrom('PUT', 'OPTIONS', 'HEAD', 'DELETE', 'PATCH') });
  return fc.tuple(method, path, query, payload, headers).map(([m, p, q, body, h]) => {
    const out: Record<string, string> = {};
    if (h.authorization) out.authorization = h.authorization;
    if (h.requestId) out['x-request-id'] = h.requestId;
    if (h.forwardedFor !== null) out['x-forwarded-for'] = h.forwardedFor;
    if (h.accept !== null) out.accept = h.accept;
    if (body.contentType !== undefined) out['content-type'] = body.contentType;
    const description = `${m} ${p}${q} [${out.authorization === authorization ? 'role key' : `authorization ${JSON.stringify(out.authorization ?? null)}`}] ${body.contentType ?? ''} ${(body.text ?? '').slice(0, 300)}`;
    return { method: m, url: p + q, headers: out, ...(body.text !== undefined ? { payload: body.text } : {}), description };
  });
}

/**
 * The state as written, without what changes on its own: a key's lastUsedAt (authenticating alone
 * updates it, at most once a minute) and the audit trail's checkpoint (written every few seconds
 * while events come, refusals' events included), nor the revision that counts those changes too.
 */
function comparable(text: string): string {
  const state = JSON.parse(text) as { revision?: number; apiKeys: { lastUsedAt?: string }[]; auditTrail?: { checkpoint?: unknown; mac?: unknown } };
  delete state.revision;
  for (const key of state.apiKeys) delete key.lastUsedAt;
  if (state.auditTrail) {
    delete state.auditTrail.checkpoint;
    delete state.auditTrail.mac;
  }
  return JSON.stringify(state);
}

t.test('every operation, with admin and user credentials, under malformed and hostile input', async (t) => {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 12 });
  const daemon = await startTestDaemon(t, undefined, { caFile, testing: { notificationBackoffMs: [10] } });
  await registerTenant(t, daemon, tenant);
  const userKey = await createKey(t, daemon, { name: 'fuzz-user', role: 'user', tenantId: tenant.tenantId, principalId: tenant.directory.users[0]!.id });
  const rule = await createRule(t, daemon, { description: 'fuzz: helpdesk reads workstations', tenantId: tenant.tenantId, groupId: 'All-Workstations', principalsAllowedLaps: ['AMS-Helpdesk'], principalsAllowedBitLocker: ['AMS-Helpdesk'] });
  const receiver = await startReceiver(t, () => 204);
  const channel = await daemon.call({ method: 'POST', url: '/v1/notification-channels', body: { name: 'fuzz webhook', kind: 'webhook', url: `${receiver.url}/hook` } });
  t.equal(channel.statusCode, 201, channel.body);
  const generous = { userRateLimitPerMinute: 100000, userRateLimitPerHour: 1000000, userRateLimitPerDay: 10000000, ipRateLimitPerMinute: 100000, ipRateLimitPerHour: 1000000, ipRateLimitPerDay: 10000000, auditRetentionDays: 0, auditMaxEvents: 0, trustedProxies: [], globalChannelsSuccess: [], globalChannelsFailure: [] };
  const restore = async () => {
    // Undo what the previous operation's valid requests changed that would make every later one fail the same way.
    await daemon.call({ method: 'PATCH', url: '/v1/service-config', body: generous });
    if (daemon.store.state.tenants.some((x) => x.tenantId === tenant.tenantId && !x.enabled)) await daemon.call({ method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body: { enabled: true } });
  };
  await restore();

  const { devices, users } = tenant.directory;
  const principals = ['AMS-Helpdesk', 'AMS-LAPS-Readers', users[0]!.userPrincipalName, users[1]!.id];
  const known: Record<string, readonly string[]> = {
    computerName: devices.slice(0, 4).map((d) => d.displayName),
    name: [devices[0]!.displayName, 'fuzz-key', 'fuzz-channel'],
    deviceId: devices.slice(0, 4).map((d) => d.deviceId),
    tenantId: [tenant.tenantId],
    groupId: ['All-Workstations', 'Workstations-Site-A'],
    user: [users[0]!.userPrincipalName, users[1]!.id],
    device: [devices[0]!.displayName],
    principalId: [users[0]!.id],
    url: [`${receiver.url}/fuzz`],
    reason: ['ticket 42'],
    description: ['fuzzed'],
    ...Object.fromEntries(['principalsAllowedLaps', 'principalsDeniedLaps', 'principalsAllowedLapsHistory', 'principalsDeniedLapsHistory', 'principalsAllowedBitLocker', 'principalsDeniedBitLocker', 'addPrincipalsAllowedLaps', 'removePrincipalsAllowedLaps'].map((n) => [n, principals])),
  };
  const bootstrapKeyId = daemon.store.state.apiKeys[0]!.id;
  const userKeyId = daemon.store.state.apiKeys.find((k) => k.name === 'fuzz-user')!.id;
  const pools: Pools = {
    ids: () => [
      tenant.tenantId,
      rule.id,
      channel.json().id,
      ...daemon.store.state.apiKeys.map((k) => k.id).filter((id) => id !== bootstrapKeyId && id !== userKeyId),
      ...daemon.store.state.rules.map((r) => r.id),
      ...daemon.store.state.channels.map((c) => c.id),
      ...tenant.directory.devices.slice(0, 3).map((d) => d.deviceId),
      tenant.directory.users[0]!.id,
    ],
    known: (field) => known[field],
  };

  const stateFile = join(daemon.dataDir, STATE_FILE);
  const figures = { requests: 0, serverErrors: 0, notProblem: 0, offContract: 0, writtenOnRefusal: 0, healthChecks: 0, byStatus: {} as Record<string, number> };
  const ajv = createAjv({ allErrors: true, strict: false });
  const responseValidators = new Map<string, ValidateFunction>();
  /** A success answer matches the schema the contract gives for its status (the daemon's own routes only). */
  const matchesContract = (operation: Operation, res: LightMyRequestResponse): boolean => {
    const schema = operation.schema.response[String(res.statusCode)];
    if (!schema) return res.statusCode === 204 ? res.body === '' : false;
    const key = `${operation.operationId} ${res.statusCode}`;
    if (!responseValidators.has(key)) responseValidators.set(key, ajv.compile(schema));
    return responseValidators.get(key)!(res.json());
  };
  const failures: string[] = [];
  const seen = new Map<string, number>();
  /** Keeps two examples of each kind of failure (what, status, operation), so every kind is reported. */
  const fail = (what: string, request: FuzzRequest, res: LightMyRequestResponse, operationId: string) => {
    const kind = `${what} ${res.statusCode} ${operationId}`;
    const count = (seen.get(kind) ?? 0) + 1;
    seen.set(kind, count);
    if (count <= 2) failures.push(`${what}: ${res.statusCode} for ${request.description}\n    -> ${res.body.slice(0, 300)}`);
  };

  // Deletions last, so that the objects they remove serve the other operations first; the tenant's deletion very last.
  const operations = listOperations(loadSpec()).sort((a, b) => rank(a) - rank(b));
  let seed = SEED;
  for (const operation of operations) {
    for (const [role, key] of [['admin', daemon.adminKey], ['user', userKey]] as const) {
      const requests = fc.sample(requestFor(operation, `Bearer ${key}`, pools), { seed: seed++, numRuns: RUNS });
      for (const request of requests) {
        const before = comparable(JSON.stringify(await readState(stateFile)));
        let res: LightMyRequestResponse;
        try {
          res = await daemon.app.inject({ method: request.method as 'GET', url: request.url, headers: request.headers, ...(request.payload !== undefined ? { payload: request.payload } : {}) });
        } catch (error) {
          // light-my-request refuses some headers Node would never send; nothing reached the daemon.
          failures.push(`inject refused ${request.description}: ${(error as Error).message}`);
          continue;
        }
        figures.requests++;
        if (process.env.AMS_FUZZ_TRACE === operation.operationId) t.comment(`${role} ${res.statusCode} ${request.description.slice(0, 200)} -> ${res.body.slice(0, 200)}`);
        figures.byStatus[res.statusCode] = (figures.byStatus[res.statusCode] ?? 0) + 1;
        if (res.statusCode < 300 && request.method === operation.method.toUpperCase() && !matchesContract(operation, res)) {
          figures.offContract++;
          fail(`${role}: a success answer off the contract`, request, res, operation.operationId);
        }
        if (res.statusCode >= 500) {
          figures.serverErrors++;
          fail(`${role}: 5xx`, request, res, operation.operationId);
        }
        if (res.statusCode >= 400) {
          let problem: { type?: unknown; status?: unknown; detail?: unknown } = {};
          try {
            problem = res.json();
          } catch {
            // counted below
          }
          if (request.method !== 'HEAD' && (res.headers['content-type'] !== PROBLEM || typeof problem.type !== 'string' || problem.status !== res.statusCode || typeof problem.detail !== 'string' || problem.detail === '')) {
            figures.notProblem++;
            fail(`${role}: not problem+json`, request, res, operation.operationId);
          }
          if (comparable(JSON.stringify(await readState(stateFile))) !== before) {
            figures.writtenOnRefusal++;
            fail(`${role}: a refused request changed ${STATE_FILE}`, request, res, operation.operationId);
          }
        }
      }
      const health = await daemon.call({ url: '/v1/health', key: null });
      figures.healthChecks++;
      t.equal(health.statusCode, 200, `health is ok after ${operation.operationId} as ${role}`);
    }
    await restore();
  }

  t.comment(`fuzzed ${figures.requests} requests over ${operations.length} operations (seed ${SEED}, ${RUNS} per operation and role); statuses ${JSON.stringify(figures.byStatus)}`);
  t.same(failures, [], 'no request broke the daemon');
  t.equal(figures.serverErrors, 0, 'no 5xx');
  t.equal(figures.notProblem, 0, 'every error is problem+json with a detail');
  t.equal(figures.offContract, 0, 'every success answer matches the contract');
  t.equal(figures.writtenOnRefusal, 0, 'no refused request wrote to the state file');
  t.ok(figures.byStatus[200] || figures.byStatus[201], 'some requests were valid and succeeded (the fuzzer reaches the handlers)');
  const me = await daemon.call({ url: '/v1/me' });
  t.equal(me.statusCode, 200, 'the daemon still serves its admin');
  await recordFigures('fuzz', { 'requests tried': figures.requests, '5xx': figures.serverErrors, 'errors not problem+json': figures.notProblem, 'success answers off the contract': figures.offContract, 'refused requests that wrote state': figures.writtenOnRefusal, 'health checks (all ok)': figures.healthChecks });
});

function rank(operation: Operation): number {
  if (operation.operationId === 'deleteTenant') return 3;
  if (operation.method === 'delete') return 2;
  if (operation.operationId === 'updateTenant') return 1;
  return 0;
}
