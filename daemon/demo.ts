/**
 * `amsd demo`: the whole product on one machine without a tenant or internet. It starts the simulated
 * Entra tenant, opens a daemon that trusts its CA, and configures that daemon through its own API as an
 * administrator would: the tenant (with user sign-in), an admin key and a user key acting as a
 * simulated helpdesk user. `<data-dir>/demo.json` says where everything is.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { BOOTSTRAP_KEY_FILE, openDaemon, writePrivateFile } from './daemon.js';
import { transitiveGroupIds } from './simulated-tenant/directory-data.js';
import { startSimulatedTenant, type SimulatedTenant } from './simulated-tenant/index.js';
import { checkCanListen, listenFailure } from './listen-check.js';
import { lockDataDir } from './store/lock.js';

export const DEMO_FILE = 'demo.json';
export const DEMO_USER_KEY_FILE = 'demo-user.key';
const DEMO_USER_KEY_NAME = 'demo-user';
/** amsd's API as the demo tenant knows it, and the public client users sign in with. */
export const DEMO_AUDIENCE = 'api://amsd-demo';
export const DEMO_PUBLIC_CLIENT_ID = '5e0d6c1a-9a3b-4f2e-8d7c-0a1b2c3d4e5f';
/** Fixed, so device names, users and groups are the same on every run. */
const DEMO_SEED = 20261123;

export { defaultDemoDataDir } from './config.js';

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
  /**
   * The simulated Entra user the user key acts as. `roles` says what role it has by each way in, and
   * why they differ: the key is a user key on purpose, sign-in maps AMS-Admins members to admin.
   */
  user: { userPrincipalName: string; objectId: string; groups: string[]; roles: { apiKey: 'user'; signIn: 'admin' | 'user'; why: string } };
  /** The secret-read limits the demo runs with (the service settings), per user and per client address. */
  rateLimits: { user: RateLimitWindows; ip: RateLimitWindows; change: string };
  tenant: { tenantId: string; displayName: string; authorityHost: string; caFile: string };
  /** Device names to try: unique ones, and one that several devices share. */
  sampleDevices: string[];
  duplicatedDeviceName?: string;
  signIn: { audience: string; clientId: string; administratorsGroup: string; verificationUri: string };
  /** Devices whose password the user key may read, and some it is refused, with the result code. */
  allowedDevices: string[];
  deniedDevices: { deviceName: string; code: 'ExplicitlyDenied' | 'NoMatchingRuleForUser' }[];
  /**
   * The device whose seeded rule rotates its password through (simulated) Intune at once after each read,
   * and lets the user key ask for a rotation (Reset-AmsLocalAdminPassword): read it twice a few seconds
   * apart and the password has changed. Not among allowedDevices, whose passwords stay put.
   */
  rotatingDevice?: { deviceName: string; rule: string; rotateAfterReadMinutes: number };
}

export interface RateLimitWindows {
  perMinute: number;
  perHour: number;
  perDay: number;
}

/**
 * Production's limits (10 a minute per address) are shared by every loopback caller of the demo:
 * Swagger UI, curl and PowerShell, refusals included, lock each other out within a minute of exploring.
 */
export const DEMO_RATE_LIMITS: Readonly<RateLimitWindows> = Object.freeze({ perMinute: 600, perHour: 10_000, perDay: 100_000 });

export interface Demo {
  app: FastifyInstance;
  tenant: SimulatedTenant;
  info: DemoInfo;
}

/** Starts the simulated tenant and the daemon, configures the daemon, and listens. */
export async function startDemo(options: DemoOptions): Promise<Demo> {
  const { dataDir, logger } = options;
  // Nothing is written before the port is known to be free and the data directory is ours: a second
  // demo must not replace the CA certificate that the running demo's users trust (curl --cacert, pwsh).
  await checkCanListen(options.host, options.port);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const lock = await lockDataDir(dataDir);
  let tenant: SimulatedTenant;
  try {
    tenant = await startSimulatedTenant({ devices: options.devices ?? 60, seed: DEMO_SEED });
  } catch (error) {
    await lock.release();
    throw error;
  }
  try {
    const caFile = join(dataDir, 'simulated-tenant-ca.pem');
    try {
      await writeFile(caFile, tenant.caCertificatePem); // a CA certificate: public
    } catch (error) {
      await lock.release();
      throw error;
    }
    const daemon = await openDaemon({ dataDir, logger, caFile, lock }); // releases the lock if it cannot open
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
      const names = new Map<string, number>();
      for (const d of directory.devices) names.set(d.displayName, (names.get(d.displayName) ?? 0) + 1);
      const devices = demoDevices(directory, names);
      await seedRules(api, tenant.tenantId, devices.rotatingDevice);
      const rateLimits = await configureRateLimits(api, daemon.store.state.settings);
      const userKeyFile = join(dataDir, DEMO_USER_KEY_FILE);
      await ensureUserKey(daemon.app, api, userKeyFile, tenant.tenantId, helpdeskUser.id, helpdeskUser.userPrincipalName);

      const address = await daemon.app.listen({ host: options.host, port: options.port }).catch((error: unknown) => {
        throw new Error(listenFailure(options.host, options.port, error));
      });
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
          roles: userRoles(helpdeskGroups.has(administrators.id), administrators.displayName),
        },
        rateLimits,
        tenant: { tenantId: tenant.tenantId, displayName: 'Contoso (simulated)', authorityHost: tenant.authorityHost, caFile },
        sampleDevices: [...names].filter(([, n]) => n === 1).map(([name]) => name).slice(0, 5),
        ...(directory.duplicateNames[0] ? { duplicatedDeviceName: directory.duplicateNames[0] } : {}),
        signIn: { audience: DEMO_AUDIENCE, clientId: DEMO_PUBLIC_CLIENT_ID, administratorsGroup: administrators.displayName, verificationUri: tenant.verificationUri },
        ...devices,
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

/** Why the one user has two roles: an API key's role is the key's, a signed-in user's comes from the tenant's administratorIds. */
function userRoles(inAdministrators: boolean, administratorsGroup: string): DemoInfo['user']['roles'] {
  return {
    apiKey: 'user',
    signIn: inAdministrators ? 'admin' : 'user',
    why: inAdministrators
      ? `The user key is a user key on purpose, to show what a helpdesk caller meets (admin operations are refused). Signed in with the device code flow, the same user is an administrator: the tenant maps members of ${administratorsGroup} (administratorIds) to admin, and the user is one through nested groups.`
      : 'The user key is a user key, and the tenant does not map this user to the administrators.',
  };
}

/**
 * Sets the demo's rate limits through the service settings, as an administrator would, where no one
 * has set one yet (settings are stored sparsely: absent means the daemon's default applies). A limit
 * set before, by an earlier demo or by hand (even back to production's), is kept. Returns the limits in force.
 */
async function configureRateLimits(api: ApiCall, stored: Readonly<Record<string, unknown>>): Promise<DemoInfo['rateLimits']> {
  const current = (await expectOk(api('GET', '/v1/service-config'), 'read the service settings')).body;
  const changes: Record<string, number> = {};
  for (const who of ['user', 'ip'] as const) {
    for (const window of Object.keys(DEMO_RATE_LIMITS) as (keyof RateLimitWindows)[]) {
      const name = `${who}RateLimit${window.charAt(0).toUpperCase()}${window.slice(1)}`;
      if (stored[name] === undefined) changes[name] = DEMO_RATE_LIMITS[window];
    }
  }
  const settings = Object.keys(changes).length > 0 ? (await expectOk(api('PATCH', '/v1/service-config', changes), 'set the demo rate limits')).body : current;
  const windows = (who: string): RateLimitWindows => ({ perMinute: settings[`${who}RateLimitPerMinute`] as number, perHour: settings[`${who}RateLimitPerHour`] as number, perDay: settings[`${who}RateLimitPerDay`] as number });
  return {
    user: windows('user'),
    ip: windows('ip'),
    change: 'Set-AmsServiceConfig -UserRateLimitPerMinute 10 -IpRateLimitPerMinute 10, or PATCH /v1/service-config as an admin (production defaults: 10 a minute, 50 an hour, 100 a day)',
  };
}

/** The rules the demo seeds (once; kept as the admin changes them): the user key is allowed some devices and refused others. */
const DEMO_RULES = [
  // The helpdesk may also have a workstation's password rotated on demand (Reset-AmsLocalAdminPassword).
  {
    description: 'Helpdesk: workstation passwords',
    groupId: 'All-Workstations',
    principalsAllowedLaps: ['AMS-Helpdesk'],
    principalsAllowedLapsHistory: ['AMS-Helpdesk'],
    principalsAllowedLapsRotation: ['AMS-Helpdesk'],
  },
  {
    description: 'Tier 0 servers: never the helpdesk',
    groupId: 'Servers-Tier0',
    principalsDeniedLaps: ['AMS-Helpdesk'],
    principalsDeniedLapsHistory: ['AMS-Helpdesk'],
    principalsDeniedLapsRotation: ['AMS-Helpdesk'],
  },
  { description: 'Administrators: BitLocker recovery keys', principalsAllowedBitLocker: ['AMS-Admins'], userRequestReasonRequirement: 'Required' },
];

/** The rule of the rotating device: the most specific (a device rule), so its rotation is what applies. */
function rotatingRule(rotating: NonNullable<DemoInfo['rotatingDevice']>) {
  return {
    description: rotating.rule,
    deviceId: rotating.deviceName,
    principalsAllowedLaps: ['AMS-Helpdesk'],
    principalsAllowedLapsRotation: ['AMS-Helpdesk'],
    rotateAfterReadMinutes: rotating.rotateAfterReadMinutes,
  };
}

async function seedRules(api: ApiCall, tenantId: string, rotating: DemoInfo['rotatingDevice']) {
  const existing = new Set(((await api('GET', `/v1/computer-authorization-rules?tenantId=${tenantId}`)).body.items ?? []).map((r) => r.description));
  for (const rule of [...DEMO_RULES, ...(rotating ? [rotatingRule(rotating)] : [])]) {
    if (!existing.has(rule.description)) await expectOk(api('POST', '/v1/computer-authorization-rules', { tenantId, ...rule }), `seed the rule '${rule.description}'`);
  }
}

/** Which unique-named devices the seeded rules let the helpdesk user read, and which they refuse. */
function demoDevices(directory: SimulatedTenant['directory'], names: Map<string, number>): Pick<DemoInfo, 'allowedDevices' | 'deniedDevices' | 'rotatingDevice'> {
  const group = (name: string) => directory.groups.find((g) => g.displayName === name)!.id;
  const [workstations, servers] = [group('All-Workstations'), group('Servers-Tier0')];
  const allowedDevices: string[] = [];
  const deniedDevices: DemoInfo['deniedDevices'] = [];
  for (const device of directory.devices) {
    if (names.get(device.displayName) !== 1) continue;
    const groups = transitiveGroupIds(directory, device.id);
    if (groups.has(servers)) deniedDevices.push({ deviceName: device.displayName, code: 'ExplicitlyDenied' });
    // The BitLocker rule targets the whole tenant, so these devices have a rule: just none that lets the user read the password.
    else if (!groups.has(workstations)) deniedDevices.push({ deviceName: device.displayName, code: 'NoMatchingRuleForUser' });
    else if (device.laps) allowedDevices.push(device.displayName);
  }
  const pick = (code: string) => deniedDevices.filter((d) => d.code === code).slice(0, 3);
  // A workstation past the five listed, managed by Intune and online, rotates after each read.
  const rotating = allowedDevices.slice(5).find((name) => directory.devices.find((d) => d.displayName === name)?.intune?.online);
  return {
    allowedDevices: allowedDevices.slice(0, 5),
    deniedDevices: [...pick('ExplicitlyDenied'), ...pick('NoMatchingRuleForUser')],
    ...(rotating ? { rotatingDevice: { deviceName: rotating, rule: `Helpdesk: ${rotating} is rotated after each read`, rotateAfterReadMinutes: 0 } } : {}),
  };
}

function limits(windows: RateLimitWindows): string {
  return `${windows.perMinute}/minute, ${windows.perHour}/hour, ${windows.perDay}/day`;
}

/** What to try, for the terminal. */
export function demoInstructions(info: DemoInfo): string {
  const device = info.allowedDevices[0] ?? info.sampleDevices[0] ?? 'PC-0001';
  const denied = info.deniedDevices.find((d) => d.code === 'ExplicitlyDenied') ?? info.deniedDevices[0];
  const read = (name: string) => `curl -s -X POST -H "Authorization: Bearer $(cat ${info.userKeyFile})" -H 'Content-Type: application/json' -d '{"computerName":"${name}"}' ${info.url}/v1/secrets/local-admin-password`;
  return [
    `amsd demo is running at ${info.url} against a simulated Entra tenant (no internet, no real tenant).`,
    '',
    `  Swagger UI     ${info.swaggerUi}`,
    `  Admin key      ${info.adminKeyFile}`,
    `  User key       ${info.userKeyFile}   (acts as ${info.user.userPrincipalName}, member of ${info.user.groups.join(', ') || 'no group'})`,
    `  Everything     ${join(info.dataDir, DEMO_FILE)}`,
    '',
    `  Roles          the user key has role user; ${info.user.userPrincipalName} signed in by device code has role ${info.user.roles.signIn}.`,
    info.user.roles.signIn === 'admin'
      ? `                 On purpose: the key shows what a helpdesk caller meets; sign-in maps ${info.signIn.administratorsGroup} members (the tenant's administratorIds) to admin.`
      : undefined,
    limits(info.rateLimits.user) === limits(info.rateLimits.ip)
      ? `  Rate limits    ${limits(info.rateLimits.user)} per user and per client address (the demo's; production: 10/minute, 50/hour, 100/day).`
      : `  Rate limits    ${limits(info.rateLimits.user)} per user, ${limits(info.rateLimits.ip)} per client address (production: 10/minute, 50/hour, 100/day).`,
    `                 Change them with Set-AmsServiceConfig -UserRateLimitPerMinute 10 -IpRateLimitPerMinute 10, or PATCH ${info.url}/v1/service-config as an admin.`,
    '',
    'Try, in a shell:',
    `  curl -s -H "Authorization: Bearer $(cat ${info.userKeyFile})" ${info.url}/v1/me`,
    `  curl -s -H "Authorization: Bearer $(cat ${info.userKeyFile})" "${info.url}/v1/devices?name=${device}"`,
    `  ${read(device)}   # allowed by 'Helpdesk: workstation passwords'`,
    denied ? `  ${read(denied.deviceName)}   # refused: ${denied.code}` : '',
    `  curl -s -H "Authorization: Bearer $(cat ${info.adminKeyFile})" "${info.url}/v1/audit-events?top=5"   # both reads, on the audit trail`,
    info.duplicatedDeviceName ? `  curl -s -H "Authorization: Bearer $(cat ${info.userKeyFile})" "${info.url}/v1/devices?name=${info.duplicatedDeviceName}"   # shared name: 409 with candidates` : '',
    '',
    'Or in PowerShell, with the AccessManager module (psmodule/AccessManager):',
    `  Import-Module ./psmodule/AccessManager`,
    `  Connect-AmsServer -Uri ${info.url} -ApiKey (Get-Content ${info.userKeyFile} | ConvertTo-SecureString -AsPlainText -Force)`,
    `  Get-AmsDevice -Name ${device} | Get-AmsLocalAdminPassword -AsPlainText`,
    denied ? `  Get-AmsLocalAdminPassword -ComputerName ${denied.deviceName}   # refused: ${denied.code}` : '',
    info.rotatingDevice
      ? `  Get-AmsLocalAdminPassword ${info.rotatingDevice.deviceName} -AsPlainText; Start-Sleep 3; Get-AmsLocalAdminPassword ${info.rotatingDevice.deviceName} -AsPlainText   # rotated through Intune after the first read ('${info.rotatingDevice.rule}')`
      : undefined,
    info.rotatingDevice ? `  Reset-AmsLocalAdminPassword ${info.rotatingDevice.deviceName} -WhatIf   # or ask Intune for a rotation now; Get-AmsPasswordRotation (as an admin) lists them` : undefined,
    // The simulated tenant's CA is its own, trusted by nothing here: the sign-in's calls to it need the switch.
    `  Connect-AmsServer -Uri ${info.url} -UseDeviceCode -SkipCertificateCheck   # sign in as a simulated user at ${info.signIn.verificationUri}`,
    '',
    'Stop with Ctrl+C; the data directory is kept, and the next `amsd demo` reuses it.',
  ]
    .filter((line): line is string => line !== undefined)
    .filter((line, i, lines) => line !== '' || lines[i - 1] !== '')
    .join('\n');
}

/** The few fields of the API's answers the demo reads; the rest passes through untouched. */
type ApiBody = { items?: { id: string; name?: string; description?: string }[]; detail?: string; key?: string; [field: string]: unknown };
type ApiCall = (method: string, url: string, body?: unknown) => Promise<{ status: number; body: ApiBody }>;

/** The daemon's own API, as an administrator calls it (in-process, before it listens). */
function apiClient(app: FastifyInstance, key: string): ApiCall {
  return async (method, url, body) => {
    const res = await app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${key}` }, ...(body === undefined ? {} : { payload: body as object }) });
    return { status: res.statusCode, body: res.body ? res.json<ApiBody>() : {} };
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
