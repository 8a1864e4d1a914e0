/**
 * Test helpers: a daemon on a fresh temporary data directory with its log captured, and a check of
 * real responses against the contract's response schemas.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createAjv } from '../daemon/common/ajv.js';
import type { LightMyRequestResponse } from 'fastify';
import type { Test } from 'tap';
import { STATE_FILE, openDaemon, type Daemon, type DaemonOptions } from '../daemon/daemon.js';
import { journalFileOf } from '../daemon/store/journal.js';
import { readState } from '../daemon/store/state-files.js';
import type { State } from '../daemon/store/state.js';
import { listOperations, loadSpec, resolveRef, toJsonSchema, type JsonSchema } from '../openapi/contract.js';
import { createLogger, type LogLevel } from '../daemon/logging.js';
import { startSimulatedTenant, type SimulatedTenant, type SimulatedTenantOptions } from '../daemon/simulated-tenant/index.js';


export type TestContext = Test;

/** The state a data directory holds now, as the daemon would load it: amsd.json with its change journal applied. */
export async function storedState(dataDir: string): Promise<State> {
  const state = await readState(join(dataDir, STATE_FILE));
  if (!state) throw new Error(`${dataDir} holds no state`);
  return state;
}

/** Everything the state's files hold on disk (amsd.json and its change journal), as text: to search for what must never be written. */
export async function stateFilesText(dataDir: string): Promise<string> {
  const file = join(dataDir, STATE_FILE);
  const read = (path: string) => readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? '' : Promise.reject(error)));
  return (await read(file)) + '\n' + (await read(journalFileOf(file)));
}

export async function tempDir(t: TestContext, prefix = 'amsd-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface TestDaemon extends Daemon {
  dataDir: string;
  adminKey: string;
  /** Every log line written so far, raw. */
  logLines: string[];
  /** Sends a request with the given API key (the bootstrap admin key by default). */
  call(options: { method?: string; url: string; key?: string | null; body?: unknown; headers?: Record<string, string>; remoteAddress?: string }): Promise<LightMyRequestResponse>;
}

export async function startTestDaemon(
  t: TestContext,
  dataDir?: string,
  { logLevel = 'trace', adminKey: givenAdminKey, ...options }: Pick<DaemonOptions, 'caFile' | 'pwshPath' | 'serverLimits' | 'testing' | 'databaseUrl' | 'masterKeyFile'> & {
    logLevel?: LogLevel;
    /** The admin key to call with when this start writes none (a second daemon on one database). */
    adminKey?: string;
  } = {},
): Promise<TestDaemon> {
  const dir = dataDir ?? join(await tempDir(t), 'data');
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const daemon = await openDaemon({ dataDir: dir, logger: createLogger(logLevel, sink), ...options });
  t.teardown(() => daemon.app.close());
  await daemon.app.ready();
  const adminKey = daemon.bootstrapKeyFile || givenAdminKey === undefined ? (await readFile(join(dir, 'bootstrap-admin.key'), 'utf8')).trim() : givenAdminKey;
  return {
    ...daemon,
    dataDir: dir,
    adminKey,
    logLines,
    call({ method = 'GET', url, key, body, headers = {}, remoteAddress }) {
      const auth = key === null ? {} : { authorization: `Bearer ${key ?? adminKey}` };
      return daemon.app.inject({
        method: method as 'GET',
        url,
        headers: { ...auth, ...headers },
        ...(remoteAddress ? { remoteAddress } : {}),
        ...(body === undefined ? {} : { payload: body as object }),
      });
    },
  };
}

const spec = loadSpec();
const operations = new Map(listOperations(spec).map((op) => [op.operationId, op]));
const ajv = createAjv({ allErrors: true, strict: true });

/**
 * Asserts that a real response is one the contract declares for this operation: its status, its
 * content type, and a body that validates against that response's schema.
 */
export function assertMatchesSpec(t: TestContext, response: LightMyRequestResponse, operationId: string) {
  const operation = operations.get(operationId);
  if (!operation) throw new Error(`No operation ${operationId} in the spec`);
  const status = String(response.statusCode);
  const declared = operation.definition.responses[status];
  t.ok(declared, `${operationId}: status ${status} is declared in the spec`);
  if (!declared) return;
  const content = resolveRef<{ content?: Record<string, { schema: JsonSchema }> }>(spec, declared).content;
  if (!content) {
    t.same(response.body, '', `${operationId} ${status}: no body`);
    return;
  }
  const mediaType = String(response.headers['content-type'] ?? '').split(';')[0] ?? '';
  const schema = content[mediaType]?.schema;
  t.ok(schema, `${operationId} ${status}: content type ${mediaType} is declared`);
  if (!schema) return;
  const validate = ajv.compile(toJsonSchema(spec, schema));
  const valid = validate(response.json());
  t.same(valid ? [] : validate.errors, [], `${operationId} ${status}: body matches the spec's schema`);
}

/** A simulated tenant for one test, with its CA written to a file the daemon can be given (`caFile`). */
export async function simulatedTenantFor(t: TestContext, options: SimulatedTenantOptions = {}): Promise<{ tenant: SimulatedTenant; caFile: string }> {
  const tenant = await startSimulatedTenant(options);
  t.teardown(() => tenant.close());
  const caFile = join(await tempDir(t), 'simulated-ca.pem');
  await writeFile(caFile, tenant.caCertificatePem);
  return { tenant, caFile };
}

/** Registers the simulated tenant in the daemon (with its client secret unless a credential is given). */
export async function registerTenant(t: TestContext, daemon: TestDaemon, tenant: SimulatedTenant, credential: Record<string, string> = { clientSecret: tenant.app.clientSecret }) {
  const res = await daemon.call({
    method: 'POST',
    url: '/v1/tenants',
    body: { tenantId: tenant.tenantId, displayName: 'Simulated', clientId: tenant.app.clientId, authorityHost: tenant.authorityHost, graphEndpoint: tenant.graphEndpoint, ...credential },
  });
  t.equal(res.statusCode, 201, `the simulated tenant is registered: ${res.statusCode === 201 ? '' : res.body}`);
}

/** Creates an API key and returns its secret value. */
export async function createKey(t: TestContext, daemon: TestDaemon, body: Record<string, unknown>): Promise<string> {
  const res = await daemon.call({ method: 'POST', url: '/v1/api-keys', body });
  t.equal(res.statusCode, 201, `API key ${String(body.name)} created: ${res.statusCode === 201 ? '' : res.body}`);
  return res.json().key;
}

/** Creates a computer authorization rule and returns it as the API shows it. */
export async function createRule(t: TestContext, daemon: TestDaemon, body: Record<string, unknown>): Promise<Record<string, any>> {
  const res = await daemon.call({ method: 'POST', url: '/v1/computer-authorization-rules', body });
  t.equal(res.statusCode, 201, `rule '${String(body.description)}' created: ${res.statusCode === 201 ? '' : res.body}`);
  return res.json();
}
