/**
 * The stage for the figures about the product: a simulated Entra tenant in this process, and real
 * `amsd serve` child processes on data directories configured against it (seed.ts): a user key acting
 * as a helpdesk user, and a rule that lets that user read the passwords of the workstations.
 *
 * Besides the daemon's read, a lab makes the reference call: the same Graph request the daemon makes
 * for the secret, sent straight to the simulated Graph over HTTPS with a token of the same app.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { transitiveGroupIds, type SeededDevice } from '../../daemon/simulated-tenant/directory-data.js';
import { startSimulatedTenant, type SimulatedTenant } from '../../daemon/simulated-tenant/index.js';
import { startBareProxy, startServe, tempDir, type ServeProcess } from './processes.js';
import { COLD_CACHES, seedReadingDataDir, WARM_CACHES } from './seed.js';

/** Graph's own paths (identity stays undelayed: the token is fetched once and cached on both sides). */
export const GRAPH_PREFIX = '/v1.0';

export interface ApiAnswer {
  status: number;
  body: any;
}

export interface Stage {
  tenant: SimulatedTenant;
  caFile: string;
  /** A device the helpdesk may read: a unique name, in All-Workstations, not a server, LAPS backed up. */
  device: SeededDevice;
  /** The helpdesk user the keys act as. */
  userId: string;
  /** The reference: the Graph request of the secret, sent directly; throws unless 200. */
  direct: () => Promise<void>;
  /** That request's URL, and the app token it is sent with (for the bare proxy). */
  secretUrl: string;
  token: string;
  /** Graph's answers get `ms` added to each (0: none). */
  setGraphLatency(ms: number): void;
  close(): Promise<void>;
}

export interface Lab {
  serve: ServeProcess;
  /** The daemon's API as the bootstrap administrator. */
  admin: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
  /** One password read through the daemon, by name, as the helpdesk user; throws unless 200. */
  read: () => Promise<void>;
  /** Device and group caches: `warm` keeps answers for the whole run, `cold` (0 s) keeps none. */
  setCaches(mode: 'warm' | 'cold'): Promise<void>;
  close(): Promise<void>;
}

/** The secret's request, as DeviceSecrets.lapsCredentials sends it. */
const lapsPath = (deviceId: string) => `${GRAPH_PREFIX}/directory/deviceLocalCredentials/${deviceId}?$select=id,deviceName,lastBackupDateTime,refreshDateTime,credentials`;

/** Enough connections that no side of a comparison queues in its own client. */
const CONNECTIONS = 64;

export async function openStage(): Promise<Stage> {
  const tenant = await startSimulatedTenant({ devices: 60, seed: 20261201, keepAliveTimeoutMs: 120_000 });
  const caFile = join(tempDir('stage'), 'simulated-tenant-ca.pem');
  writeFileSync(caFile, tenant.caCertificatePem);
  const graphClient = new Agent({ connections: CONNECTIONS, keepAliveTimeout: 30_000, connect: { ca: [tenant.caCertificatePem] } });
  try {
    const directory = tenant.directory;
    const groupId = (name: string) => directory.groups.find((g) => g.displayName === name)!.id;
    const counts = new Map<string, number>();
    for (const d of directory.devices) counts.set(d.displayName, (counts.get(d.displayName) ?? 0) + 1);
    const device = directory.devices.find((d) => {
      const groups = transitiveGroupIds(directory, d.id);
      return counts.get(d.displayName) === 1 && d.laps && groups.has(groupId('All-Workstations')) && !groups.has(groupId('Servers-Tier0'));
    });
    if (!device) throw new Error('bench set-up: the seeded directory has no readable workstation');
    const token = await appToken(tenant, graphClient);
    const secretUrl = tenant.graphEndpoint + lapsPath(device.deviceId);
    return {
      tenant,
      caFile,
      secretUrl,
      token,
      device,
      userId: directory.users[0]!.id, // in AMS-Helpdesk
      direct: async () => {
        const response = await request(secretUrl, { dispatcher: graphClient, headers: { authorization: `Bearer ${token}` } });
        const text = await response.body.text();
        if (response.statusCode !== 200) throw new Error(`the direct Graph call answered ${response.statusCode}: ${text}`);
      },
      setGraphLatency: (ms) => void tenant.faults.setLatency(GRAPH_PREFIX, ms),
      close: async () => {
        await graphClient.close();
        await tenant.close();
      },
    };
  } catch (error) {
    await graphClient.destroy();
    await tenant.close();
    throw error;
  }
}

/** A data directory seeded for reads with `fillerRules` more rules, served by `amsd serve`. */
export async function openLab(stage: Stage, options: { fillerRules: number }): Promise<Lab> {
  const dataDir = join(tempDir('lab'), 'data');
  const { userKey } = await seedReadingDataDir(dataDir, { tenant: stage.tenant, caFile: stage.caFile, userId: stage.userId, readDeviceId: stage.device.deviceId, fillerRules: options.fillerRules });
  return labOn(stage, await startServe(dataDir, { caFile: stage.caFile }), userKey);
}

/** A lab on a daemon already serving (one of several on a PostgreSQL database): its admin API and reads as `userKey`. */
export function labOn(stage: Stage, serve: ServeProcess, userKey: string): Lab {
  const client = new Agent({ connections: CONNECTIONS, keepAliveTimeout: 30_000 });
  const adminKey = serve.adminKey;
  const admin = async (method: string, path: string, body?: unknown): Promise<ApiAnswer> => {
    const response = await request(serve.url + path, {
      dispatcher: client,
      method: method as 'GET',
      headers: { authorization: `Bearer ${adminKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.body.text();
    return { status: response.statusCode, body: text ? JSON.parse(text) : undefined };
  };
  const readUrl = `${serve.url}/v1/secrets/local-admin-password`;
  const readBody = JSON.stringify({ computerName: stage.device.displayName });
  return {
    serve,
    admin,
    read: async () => {
      const response = await request(readUrl, { dispatcher: client, method: 'POST', headers: { authorization: `Bearer ${userKey}`, 'content-type': 'application/json' }, body: readBody });
      const text = await response.body.text();
      if (response.statusCode !== 200) throw new Error(`a read answered ${response.statusCode}: ${text}`);
    },
    setCaches: async (mode) => {
      const answer = await admin('PATCH', '/v1/service-config', mode === 'warm' ? WARM_CACHES : COLD_CACHES);
      if (answer.status !== 200) throw new Error(`setting the caches ${mode} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    },
    close: async () => {
      await serve.stop();
      await client.close();
    },
  };
}

/** The floor of the read figures (bare-proxy.ts): a read through it is one POST, one Graph call, one JSON answer. */
export interface BareProxy {
  pid: number;
  read: () => Promise<void>;
  close(): Promise<void>;
}

export async function openBareProxy(stage: Stage): Promise<BareProxy> {
  const proxy = await startBareProxy(stage.secretUrl, stage.token, stage.caFile);
  const client = new Agent({ connections: CONNECTIONS, keepAliveTimeout: 30_000 });
  const body = JSON.stringify({ computerName: stage.device.displayName });
  return {
    pid: proxy.pid,
    read: async () => {
      const response = await request(`${proxy.url}/read`, { dispatcher: client, method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const text = await response.body.text();
      if (response.statusCode !== 200) throw new Error(`a read through the bare proxy answered ${response.statusCode}: ${text}`);
    },
    close: async () => {
      await proxy.stop();
      await client.close();
    },
  };
}

/** An app token for Graph from the simulated tenant's token endpoint (client credentials). */
async function appToken(tenant: SimulatedTenant, dispatcher: Agent): Promise<string> {
  const response = await request(tenant.tokenEndpoint, {
    dispatcher,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: tenant.app.clientId, client_secret: tenant.app.clientSecret, scope: tenant.graphScope }).toString(),
  });
  const body = (await response.body.json()) as { access_token?: string };
  if (response.statusCode !== 200 || !body.access_token) throw new Error(`bench set-up: the token endpoint answered ${response.statusCode}`);
  return body.access_token;
}
