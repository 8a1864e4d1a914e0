/**
 * `amsd demo`: the whole product on one machine without a tenant or internet. It starts the simulated
 * Entra tenant, opens a daemon that trusts its CA, and configures that daemon through its own API as an
 * administrator would: the tenant (with user sign-in), an admin key and a user key acting as a
 * simulated helpdesk user. `<data-dir>/demo.json` says where everything is.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { BOOTSTRAP_KEY_FILE, openDaemon, writePrivateFile } from './daemon.js';
import { transitiveGroupIds } from './simulated-tenant/directory-data.js';
import { startSimulatedTenant, type SimulatedTenant } from './simulated-tenant/index.js';

export const DEMO_FILE = 'demo.json';
export const DEMO_USER_KEY_FILE = 'demo-user.key';
const DEMO_USER_KEY_NAME = 'demo-user';
/** amsd's API as the demo tenant knows it, and the public client users sign in with. */
export const DEMO_AUDIENCE = 'api://amsd-demo';
export const DEMO_PUBLIC_CLIENT_ID = '5e0d6c1a-9a3b-4f2e-8d7c-0a1b2c3d4e5f';
/** Fixed, so device names, users and groups are the same on every run. */
const DEMO_SEED = 20261123;

export function defaultDemoDataDir(): string {
  return join(tmpdir(), 'amsd-demo');
}

export interface DemoOptions {
  dataDir: string;
  host: string;
  port: number;
  logger: Logger;
  devices?: number;
}

export interface DemoInfo {
  url: string;
  swaggerUi: string;
  dataDir: string;
  adminKeyFile: string;
  userKeyFile: string;
  /** The simulated Entra user the user key acts as. */
  user: { userPrincipalName: string; objectId: string; groups: string[] };
  tenant: { tenantId: string; displayName: string; authorityHost: string; caFile: string };
  /** Device names to try: unique ones, and one that several devices share. */
  sampleDevices: string[];
  duplicatedDeviceName?: string;
  signIn: { audience: string; clientId: string; administratorsGroup: string };
}

export interface Demo {
  app: FastifyInstance;
  tenant: SimulatedTenant;
  info: DemoInfo;
}

/** Starts the simulated tenant and the daemon, configures the daemon, and listens. */
export async function startDemo(options: DemoOptions): Promise<Demo> {
  const { dataDir, logger } = options;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const tenant = await startSimulatedTenant({ devices: options.devices ?? 60, seed: DEMO_SEED });
  try {
    const caFile = join(dataDir, 'simulated-tenant-ca.pem');
    await writeFile(caFile, tenant.caCertificatePem); // a CA certificate: public

    const daemon = await openDaemon({ dataDir, logger, caFile });
    daemon.app.addHook('onClose', () => tenant.close());
    try {
      const adminKeyFile = join(dataDir, BOOTSTRAP_KEY_FILE);
      const adminKey = (await readFile(adminKeyFile, 'utf8').catch(() => '')).trim();
      const api = apiClient(daemon.app, adminKey);
      const me = await api('GET', '/v1/me');
      if (me.status !== 200 || me.body.role !== 'admin') {
        throw new Error(`${adminKeyFile} does not hold a working admin key for this data directory. Start the demo with another --data-dir, or delete ${dataDir}.`);
      }

      const directory = tenant.directory;
      const administrators = directory.groups.find((g) => g.displayName === 'AMS-Admins')!;
      const helpdeskUser = directory.users[0]!;
      const helpdeskGroups = transitiveGroupIds(directory, helpdeskUser.id);
      await configureTenant(api, tenant, administrators.id);
      const userKeyFile = join(dataDir, DEMO_USER_KEY_FILE);
      await ensureUserKey(daemon.app, api, userKeyFile, tenant.tenantId, helpdeskUser.id, helpdeskUser.userPrincipalName);

      const address = await daemon.app.listen({ host: options.host, port: options.port });
      const names = new Map<string, number>();
      for (const d of directory.devices) names.set(d.displayName, (names.get(d.displayName) ?? 0) + 1);
      const info: DemoInfo = {
        url: address,
        swaggerUi: `${address}/docs`,
        dataDir,
        adminKeyFile,
        userKeyFile,
        user: {
          userPrincipalName: helpdeskUser.userPrincipalName,
          objectId: helpdeskUser.id,
          groups: directory.groups.filter((g) => helpdeskGroups.has(g.id)).map((g) => g.displayName),
        },
        tenant: { tenantId: tenant.tenantId, displayName: 'Contoso (simulated)', authorityHost: tenant.authorityHost, caFile },
        sampleDevices: [...names].filter(([, n]) => n === 1).map(([name]) => name).slice(0, 5),
        ...(directory.duplicateNames[0] ? { duplicatedDeviceName: directory.duplicateNames[0] } : {}),
        signIn: { audience: DEMO_AUDIENCE, clientId: DEMO_PUBLIC_CLIENT_ID, administratorsGroup: administrators.displayName },
      };
      await writeFile(join(dataDir, DEMO_FILE), JSON.stringify(info, null, 2) + '\n');
      return { app: daemon.app, tenant, info };
    } catch (error) {
      await daemon.app.close();
      throw error;
    }
  } catch (error) {
    await tenant.close();
    throw error;
  }
}

/** What to try, for the terminal. */
export function demoInstructions(info: DemoInfo): string {
  const device = info.sampleDevices[0] ?? 'PC-0001';
  return [
    `amsd demo is running at ${info.url} against a simulated Entra tenant (no internet, no real tenant).`,
    '',
    `  Swagger UI     ${info.swaggerUi}`,
    `  Admin key      ${info.adminKeyFile}`,
    `  User key       ${info.userKeyFile}   (acts as ${info.user.userPrincipalName}, member of ${info.user.groups.join(', ') || 'no group'})`,
    `  Everything     ${join(info.dataDir, DEMO_FILE)}`,
    '',
    'Try, in a shell:',
    `  curl -s -H "Authorization: Bearer $(cat ${info.userKeyFile})" ${info.url}/v1/me`,
    `  curl -s -H "Authorization: Bearer $(cat ${info.userKeyFile})" "${info.url}/v1/devices?name=${device}"`,
    info.duplicatedDeviceName ? `  curl -s -H "Authorization: Bearer $(cat ${info.userKeyFile})" "${info.url}/v1/devices?name=${info.duplicatedDeviceName}"   # shared name: 409 with candidates` : '',
    '',
    'Or in PowerShell, with the AccessManager module (psmodule/AccessManager):',
    `  Import-Module ./psmodule/AccessManager`,
    `  Connect-AmsServer -Uri ${info.url} -ApiKey (Get-Content ${info.userKeyFile} | ConvertTo-SecureString -AsPlainText -Force)`,
    `  Get-AmsDevice -Name ${device}`,
    '',
    'Stop with Ctrl+C; the data directory is kept, and the next `amsd demo` reuses it.',
  ]
    .filter((line, i, lines) => line !== '' || lines[i - 1] !== '')
    .join('\n');
}

type ApiCall = (method: string, url: string, body?: unknown) => Promise<{ status: number; body: Record<string, any> }>;

/** The daemon's own API, as an administrator calls it (in-process, before it listens). */
function apiClient(app: FastifyInstance, key: string): ApiCall {
  return async (method, url, body) => {
    const res = await app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${key}` }, ...(body === undefined ? {} : { payload: body as object }) });
    return { status: res.statusCode, body: res.body ? (res.json() as Record<string, any>) : {} };
  };
}

async function expectOk(call: ReturnType<ApiCall>, what: string) {
  const res = await call;
  if (res.status >= 300) throw new Error(`demo: could not ${what}: ${res.status} ${res.body.detail ?? JSON.stringify(res.body)}`);
  return res;
}

/** Adds the simulated tenant, or points the existing one at this run's simulated tenant (its port and secret change). */
async function configureTenant(api: ApiCall, tenant: SimulatedTenant, administratorsGroupId: string) {
  const settings = {
    displayName: 'Contoso (simulated)',
    clientId: tenant.app.clientId,
    clientSecret: tenant.app.clientSecret,
    authorityHost: tenant.authorityHost,
    graphEndpoint: tenant.graphEndpoint,
    enabled: true,
    userSignInAudiences: [DEMO_AUDIENCE],
    userSignInClientId: DEMO_PUBLIC_CLIENT_ID,
    administratorIds: [administratorsGroupId],
  };
  const existing = await api('GET', `/v1/tenants?tenantId=${tenant.tenantId}`);
  if (existing.body.items?.length) {
    await expectOk(api('PATCH', `/v1/tenants/${tenant.tenantId}`, settings), 'update the simulated tenant');
  } else {
    await expectOk(api('POST', '/v1/tenants', { tenantId: tenant.tenantId, ...settings }), 'add the simulated tenant');
  }
}

/** Keeps a working user key from an earlier run; otherwise revokes the old one and writes a new one. */
async function ensureUserKey(app: FastifyInstance, admin: ApiCall, file: string, tenantId: string, principalId: string, upn: string) {
  const previous = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (previous && (await apiClient(app, previous)('GET', '/v1/me')).status === 200) return;
  const keys = await admin('GET', '/v1/api-keys?status=active');
  for (const key of keys.body.items ?? []) {
    if (key.name === DEMO_USER_KEY_NAME) await expectOk(admin('DELETE', `/v1/api-keys/${key.id}`), 'revoke the previous demo user key');
  }
  const created = await expectOk(
    admin('POST', '/v1/api-keys', { name: DEMO_USER_KEY_NAME, role: 'user', tenantId, principalId, description: `The amsd demo's helpdesk user ${upn}` }),
    'create the demo user key',
  );
  await writePrivateFile(file, `${created.body.key}\n`);
}
