/**
 * The contract is complete and the daemon serves exactly it: every operation documented and named
 * for PowerShell, every operation routed to a real handler, no route outside the spec.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { ValidateFunction } from 'ajv';
import t from 'tap';
import { createAjv } from '../../daemon/common/ajv.js';
import Fastify from 'fastify';
import { createHandlers } from '../../daemon/api/index.js';
import { bindOperations } from '../../daemon/http/binder.js';
import { REQUEST_VALIDATION_OPTIONS, contractValidatorCompiler, precompiledName } from '../../daemon/http/validation.js';
import type { OperationHandlers } from '../../daemon/api/operation-types.js';
import { listOperations, loadSpec, resolveRef, toJsonSchema, type JsonSchema, type ParameterObject } from '../../openapi/contract.js';
import { startTestDaemon } from '../helpers.js';
import { APPROVED_VERBS } from '../../psmodule/generator/approved-verbs.js';
import { packageRoot } from '../../openapi/package-root.js';

const spec = loadSpec();
const operations = listOperations(spec);

t.test('every operation is fully described', async (t) => {
  t.equal(spec.openapi, '3.0.3');
  t.ok(operations.length > 0);
  const tags = new Set((spec as unknown as { tags: { name: string }[] }).tags.map((tag) => tag.name));
  for (const op of operations) {
    const d = op.definition;
    t.match(d.operationId, /^[a-z][A-Za-z]+$/, `${op.method} ${op.path} has an operationId`);
    t.ok(d.summary && d.summary.length > 10, `${d.operationId} has a summary`);
    t.ok(d.description && d.description.length > 20, `${d.operationId} has a description`);
    t.ok(d.tags?.length === 1 && tags.has(d.tags[0]!), `${d.operationId} has one declared tag`);
    t.ok(d.security !== undefined || spec.security !== undefined, `${d.operationId} has a security requirement`);
    t.ok(Object.keys(d.responses).some((s) => s.startsWith('2')), `${d.operationId} declares a success response`);
    if (op.authenticated) t.ok(d.responses['401'], `${d.operationId} declares 401`);
    if (op.adminOnly) t.ok(d.responses['403'], `${d.operationId} declares 403`);
    if (op.schema.body || op.schema.params || op.schema.querystring) t.ok(d.responses['400'], `${d.operationId} declares 400`);
  }
  const publicOps = operations.filter((op) => !op.authenticated).map((op) => op.operationId);
  t.same(publicOps.sort(), ['getAuthConfig', 'getHealth'], 'only health and how to sign in are public');
});

t.test('every operation names a unique Verb-AmsNoun cmdlet with an approved verb', async (t) => {
  const seen = new Map<string, string>();
  for (const op of operations) {
    const cmdlet = op.cmdlet ?? '';
    const match = /^([A-Z][a-z]+)-Ams([A-Z][A-Za-z]+)$/.exec(cmdlet);
    t.ok(match, `${op.operationId}: x-ams-cmdlet '${cmdlet}' is Verb-AmsNoun`);
    if (match) t.ok(APPROVED_VERBS.has(match[1]!), `${op.operationId}: '${match[1]}' is an approved verb`);
    t.notOk(seen.has(cmdlet.toLowerCase()), `${cmdlet} is used once (also by ${seen.get(cmdlet.toLowerCase())})`);
    seen.set(cmdlet.toLowerCase(), op.operationId);
  }
});

t.test('every operation is routed, and every API route is in the spec', async (t) => {
  const registeredRoutes: string[] = [];
  const daemon = await startTestDaemon(t, undefined, { testing: { registeredRoutes } });
  for (const op of operations) {
    t.ok(daemon.app.hasRoute({ method: op.method.toUpperCase(), url: op.routePath }), `${op.operationId} is routed`);
  }
  const documentation = /^(GET|HEAD) \/(docs|openapi\.json$|openapi\.yaml$)/;
  const apiPaths = registeredRoutes.filter((r) => !r.startsWith('HEAD ') && !documentation.test(r));
  const specPaths = operations.map((op) => `${op.method.toUpperCase()} ${op.routePath}`);
  t.same(apiPaths.sort(), specPaths.sort(), 'the routes besides the documentation are exactly the spec operations');
});

t.test('a missing or unknown handler stops the daemon from starting', async (t) => {
  const handlers = createHandlers({ version: '0', audit: {} as never, settings: {} as never, channels: {} as never, queue: {} as never, apiKeys: {} as never, tenants: {} as never, dispatcher: {} as never, devices: {} as never, rules: {} as never, access: {} as never });
  const { revokeApiKey: _removed, ...incomplete } = handlers;
  t.throws(() => bindOperations(Fastify(), operations, incomplete as OperationHandlers, {} as never), /revokeApiKey has no handler/);
  const extra = { ...handlers, deleteEverything: async () => undefined } as OperationHandlers;
  t.throws(() => bindOperations(Fastify(), operations, extra, {} as never), /deleteEverything/);
});

t.test('every request schema of the contract compiles, though a daemon run from the sources compiles each only at its first request', async (t) => {
  const compile = contractValidatorCompiler();
  // A schema ajv refuses is not refused when its route is registered, but when it is first used:
  const broken = compile({ schema: { type: 'object', properties: { a: { type: 'no-such-type' } } }, httpPart: 'body' });
  t.throws(() => broken({}), /schema is invalid: data\/properties\/a\/type/, 'compiled at the first use');
  // so the contract's schemas are all compiled here, to fail this test rather than a first request.
  let compiled = 0;
  for (const op of operations) {
    for (const httpPart of ['params', 'querystring', 'body'] as const) {
      const schema = op.schema[httpPart];
      if (!schema) continue;
      const validate = compile({ schema, httpPart });
      t.doesNotThrow(() => validate({}), `${op.operationId} ${httpPart}`);
      compiled++;
    }
  }
  t.ok(compiled >= operations.length, `${compiled} schemas`);
});

t.test('the validators npm run build compiled are the schemas the routes have, and answer as compiling those would', async (t) => {
  // Run from the sources, the daemon compiles every schema itself; from dist/ it takes these.
  const built = createRequire(import.meta.url)(join(packageRoot, 'dist', 'daemon', 'http', 'request-validators.cjs')) as Record<string, ValidateFunction>;
  const app = Fastify();
  const routed: { schema: JsonSchema; route: string }[] = [];
  app.setValidatorCompiler(({ schema, method, url, httpPart }) => {
    routed.push({ schema: schema as JsonSchema, route: `${method} ${url} ${httpPart}` });
    return () => true;
  });
  const handlers = Object.fromEntries(operations.map((op) => [op.operationId, async () => null]));
  bindOperations(app, operations, handlers as unknown as OperationHandlers, {} as never);
  await app.ready();
  t.ok(routed.length >= operations.length);
  const ajv = createAjv(REQUEST_VALIDATION_OPTIONS);
  for (const { schema, route } of routed) {
    const precompiled = built[precompiledName(schema)];
    t.ok(precompiled, `${route} has a precompiled validator`);
    if (!precompiled) continue;
    const compiled = ajv.compile(schema);
    const names = Object.keys(schema.properties ?? {});
    const inputs = [{}, { unknown: 1 }, Object.fromEntries(names.map((n) => [n, 'x'])), Object.fromEntries(names.map((n) => [n, 123])), Object.fromEntries(names.map((n) => [n, null])), 'text', null];
    for (const input of inputs) {
      const a = structuredClone(input);
      const b = structuredClone(input);
      t.same([precompiled(a), precompiled.errors ?? null, a], [compiled(b), compiled.errors ?? null, b], `${route}: ${JSON.stringify(input).slice(0, 60)}`);
    }
  }
});

type MediaType = { schema: JsonSchema; example?: unknown; examples?: Record<string, { value: unknown }> };

/** The `example` and each of the `examples` of a media type, by a name for the assertion. */
function examplesOf(media: MediaType): [string, unknown][] {
  return [
    ...(media.example === undefined ? [] : [['example', media.example] as [string, unknown]]),
    ...Object.entries(media.examples ?? {}).map(([name, e]) => [`examples/${name}`, e.value] as [string, unknown]),
  ];
}

t.test('every example in the contract is valid for its schema, and every error has one that fits', async (t) => {
  // strictRequired off: the secret requests' `oneOf` branches each require a property declared beside them.
  const ajv = createAjv({ allErrors: true, strict: true, strictRequired: false });
  const check = (where: string, schema: JsonSchema, value: unknown) => {
    const validate = ajv.compile(toJsonSchema(spec, schema));
    t.same(validate(value) ? [] : validate.errors, [], `${where} is valid`);
  };
  const errorExamples = new Set<string>();
  for (const op of operations) {
    const d = op.definition;
    for (const p of d.parameters ?? []) {
      const parameter = resolveRef<ParameterObject>(spec, p);
      const example = (parameter.schema as { example?: unknown } | undefined)?.example;
      if (example !== undefined) check(`${d.operationId}: the example of parameter ${parameter.name}`, parameter.schema!, example);
    }
    if (d.requestBody) {
      const media = resolveRef<{ content: Record<string, MediaType> }>(spec, d.requestBody).content['application/json']!;
      // Swagger UI's "Try it out" sends this body; without one it merges every property (and every oneOf branch).
      t.ok(media.example !== undefined, `${d.operationId}: the request body has an example`);
      for (const [name, value] of examplesOf(media)) check(`${d.operationId}: request body ${name}`, media.schema, value);
    }
    for (const [status, response] of Object.entries(d.responses)) {
      const content = resolveRef<{ content?: Record<string, MediaType> }>(spec, response as never).content ?? {};
      for (const [type, media] of Object.entries(content)) {
        const examples = examplesOf(media);
        for (const [name, value] of examples) check(`${d.operationId} ${status} ${type}: ${name}`, media.schema, value);
        if (type !== 'application/problem+json') continue;
        t.ok(examples.length > 0, `${d.operationId} ${status}: the problem has an example`);
        for (const [name, value] of examples) {
          const problem = value as { status?: number; code?: string };
          t.equal(problem.status, Number(status), `${d.operationId} ${status}: ${name} is a ${status}`);
          t.not(problem.code, 'Success', `${d.operationId} ${status}: ${name} is not a success`);
          errorExamples.add(JSON.stringify(value));
        }
      }
    }
  }
  t.ok(errorExamples.size >= 10, `the errors have examples of their own, not one for all (${errorExamples.size} different)`);
});

t.test('every paged list takes its page size as top', async (t) => {
  const paged = operations.filter((op) => (op.definition.parameters ?? []).some((p) => 'name' in p && p.name === 'cursor'));
  t.same(paged.map((op) => op.operationId).sort(), ['listAuditEvents', 'listDevices']);
  for (const op of paged) {
    const names = (op.definition.parameters ?? []).map((p) => ('name' in p ? p.name : ''));
    t.ok(names.includes('top'), `${op.operationId} takes top`);
    t.notOk(names.some((n) => ['limit', 'pageSize', 'first'].includes(n)), `${op.operationId} has no other page-size name`);
  }

  const daemon = await startTestDaemon(t);
  for (const name of ['a', 'b', 'c']) await daemon.call({ method: 'POST', url: '/v1/api-keys', body: { name, role: 'user' } });
  const page = await daemon.call({ url: '/v1/audit-events?top=2' });
  t.equal(page.statusCode, 200);
  t.equal(page.json().items.length, 2, 'top=2 gives two events');
  t.ok(page.json().nextCursor, 'and a cursor for the third');
  const old = await daemon.call({ url: '/v1/audit-events?limit=2' });
  t.equal(old.statusCode, 400, 'limit is not a second name for it');
  t.same(old.json().errors.map((e: { path: string }) => e.path), ['query/limit']);
});
