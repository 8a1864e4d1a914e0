/**
 * Data directories made before a figure is measured: configured, with many rules, or with a long audit
 * trail. Made in this process through the daemon's own entry points (openDaemon and its HTTP API,
 * injected), then closed, so `amsd serve` opens them as it would any data directory it wrote itself.
 *
 * Seeding is not measured, and is made fast where that changes nothing measured: the audit trail's
 * fsync is skipped while seeding (the lines are written all the same, and the kernel has them for the
 * process that opens the directory next), and audit events go in concurrently (the log's group commit).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { AuditEventInput } from '../../daemon/audit/events.js';
import { openDaemon, type Daemon } from '../../daemon/daemon.js';
import { createLogger } from '../../daemon/logging.js';
import type { SimulatedTenant } from '../../daemon/simulated-tenant/index.js';

const quietLogger = () => createLogger('warn', new Writable({ write: (_chunk, _encoding, done) => done() }));
/** Seeding only: written, not synced (see above). */
const unsyncedAudit = { sync: async () => {} };

/** Seeding a PostgreSQL database instead of the data directory's state: its URL and the master key file its daemons share. */
export interface SeedDatabase {
  url: string;
  masterKeyFile: string;
}

async function openSeeding(dataDir: string, caFile?: string, database?: SeedDatabase): Promise<{ daemon: Daemon; api: Api }> {
  const daemon = await openDaemon({
    dataDir,
    logger: quietLogger(),
    testing: { auditIo: unsyncedAudit },
    ...(caFile ? { caFile } : {}),
    ...(database ? { databaseUrl: database.url, masterKeyFile: database.masterKeyFile } : {}),
  });
  const adminKey = readFileSync(join(dataDir, 'bootstrap-admin.key'), 'utf8').trim();
  return { daemon, api: injected(daemon.app, adminKey) };
}

export type Api = (method: string, url: string, body?: unknown) => Promise<{ status: number; body: any }>;

function injected(app: FastifyInstance, key: string): Api {
  return async (method, url, body) => {
    const res = await app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${key}` }, ...(body === undefined ? {} : { payload: body as object }) });
    return { status: res.statusCode, body: res.body ? res.json() : undefined };
  };
}

async function expect(answer: ReturnType<Api>, status: number, what: string): Promise<any> {
  const got = await answer;
  if (got.status !== status) throw new Error(`bench set-up: ${what} answered ${got.status}: ${JSON.stringify(got.body).slice(0, 2000)}`);
  return got.body;
}

export interface ReadingSetup {
  /** The secret of a key with role user acting as `userId`. */
  userKey: string;
  /** The bootstrap admin key the seeding start wrote. */
  adminKey: string;
}

/**
 * A data directory (or, with `database`, a PostgreSQL database) configured for reads: the simulated tenant, the contract's highest rate limits (the
 * benchmark reads far more than a person), caches that keep their answers for the whole run, a user
 * key acting as `userId`, the rule that lets the helpdesk read workstation passwords (a group rule,
 * so a read needs the device's groups), and `fillerRules` more rules (see fillerRuleCsv).
 */
export async function seedReadingDataDir(
  dataDir: string,
  options: { tenant: SimulatedTenant; caFile: string; userId: string; readDeviceId: string; fillerRules: number; database?: SeedDatabase },
): Promise<ReadingSetup> {
  const { tenant } = options;
  const { daemon, api } = await openSeeding(dataDir, options.caFile, options.database);
  try {
    await expect(
      api('POST', '/v1/tenants', {
        tenantId: tenant.tenantId,
        displayName: 'Simulated (bench)',
        clientId: tenant.app.clientId,
        clientSecret: tenant.app.clientSecret,
        authorityHost: tenant.authorityHost,
        graphEndpoint: tenant.graphEndpoint,
      }),
      201,
      'adding the simulated tenant',
    );
    await expect(
      api('PATCH', '/v1/service-config', {
        userRateLimitPerMinute: 100_000,
        userRateLimitPerHour: 1_000_000,
        userRateLimitPerDay: 10_000_000,
        ipRateLimitPerMinute: 100_000,
        ipRateLimitPerHour: 1_000_000,
        ipRateLimitPerDay: 10_000_000,
        ...WARM_CACHES,
      }),
      200,
      'setting rate limits and caches',
    );
    const { key } = await expect(api('POST', '/v1/api-keys', { name: 'bench-helpdesk', role: 'user', tenantId: tenant.tenantId, principalId: options.userId }), 201, 'creating the user key');
    await expect(
      api('POST', '/v1/computer-authorization-rules', { description: 'Helpdesk: workstation passwords', tenantId: tenant.tenantId, groupId: 'All-Workstations', principalsAllowedLaps: ['AMS-Helpdesk'] }),
      201,
      'creating the rule',
    );
    // In files of 1,000 rows (about 650 KB): the contract caps the CSV at 900,000 characters, the daemon a body at 1 MiB.
    for (let from = 0; from < options.fillerRules; from += 1_000) {
      const csv = fillerRuleCsv(tenant, from, Math.min(1_000, options.fillerRules - from), options.readDeviceId);
      await expect(api('POST', '/v1/computer-authorization-rules/import', { csv, allowDuplicates: true }), 200, `importing filler rules ${from}..`);
    }
    return { userKey: key as string, adminKey: readFileSync(join(dataDir, 'bootstrap-admin.key'), 'utf8').trim() };
  } finally {
    await daemon.app.close();
  }
}

/** Service settings: caches that keep answers for the whole run (warm reads), or keep none (cold reads). */
export const WARM_CACHES = { deviceCacheSeconds: 3600, groupCacheSeconds: 86_400 } as const;
export const COLD_CACHES = { deviceCacheSeconds: 0, groupCacheSeconds: 0 } as const;

/**
 * Rules that change no decision the benchmark reads: each targets another device than the one read
 * (`excludeDeviceId`) and allows no one,
 * carrying a note of about 500 characters so that a rule weighs about what the rules did
 * (11.7 MB for 10,000). Device targets are resolved once per device (the device cache), principals
 * would cost a Graph call per entry and row: with none, 10,000 rows import in seconds.
 */
export function fillerRuleCsv(tenant: Pick<SimulatedTenant, 'tenantId' | 'directory'>, from: number, count: number, excludeDeviceId?: string): string {
  const devices = tenant.directory.devices.filter((d) => d.deviceId !== excludeDeviceId);
  const note = 'Filler rule of the amsd benchmark: it targets one device and allows no one, so no read it makes is decided by it. '.repeat(5).trim();
  const rows = ['Description,TenantId,DeviceId,Notes'];
  for (let i = from; i < from + count; i++) rows.push(`bench filler ${i},${tenant.tenantId},${devices[i % devices.length]!.deviceId},"${note}"`);
  return rows.join('\n') + '\n';
}

/**
 * A fresh data directory whose audit trail holds `count` events (secret reads, as a busy daemon
 * writes them), appended through the audit log in concurrent batches.
 */
export async function seedAuditTrail(dataDir: string, count: number): Promise<void> {
  const { daemon } = await openSeeding(dataDir);
  try {
    const event = (i: number): AuditEventInput => ({
      type: 'secret.read',
      actor: { kind: 'apiKey', id: '00000000-0000-4000-8000-00000000be4c', displayName: 'bench-helpdesk', role: 'user', principalId: '00000000-0000-4000-8000-000000000001' },
      accessType: 'LocalAdminPassword',
      ip: '127.0.0.1',
      requestId: `bench-${i}`,
      device: { deviceName: `PC-${String(i % 5000).padStart(4, '0')}`, deviceId: `00000000-0000-4000-8000-${String(i % 5000).padStart(12, '0')}`, tenantId: '8f4a2c1e-5b7d-4e3f-9a6c-2d1b0e7f3a59' },
      outcome: { success: true, code: 'Success', ruleIds: ['00000000-0000-4000-8000-0000000000a1'] },
    });
    const batch = 1_000;
    for (let from = 0; from < count; from += batch) {
      await Promise.all(Array.from({ length: Math.min(batch, count - from) }, (_, i) => daemon.audit.append(event(from + i))));
    }
  } finally {
    await daemon.app.close();
  }
}
