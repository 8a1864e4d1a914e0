/**
 * Opens a data directory and builds the daemon on it: lock, master key, state, bootstrap key, app.
 * Closing the app flushes the store and releases the lock.
 */
import { mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from './app.js';
import { ApiKeyService, resolveActingUser } from './auth/api-keys.js';
import { TenantConnections } from './directory/connections.js';
import { AccessService } from './access/access-service.js';
import { DirectoryNames } from './access/directory-names.js';
import { ReadRateLimiter } from './access/rate-limit.js';
import { RuleService } from './access/rule-service.js';
import { ChannelService } from './notifications/channel-service.js';
import { DEFAULT_PWSH } from './notifications/deliver.js';
import { NotificationQueue, queueFilePath } from './notifications/queue.js';
import { SettingsService } from './settings/settings-service.js';
import { auditLogPath, type AuditFileIo, type AuditLog } from './audit/audit-log.js';
import { AuditCheckpoints, AuditTrailError, createEmptyTrail, newTrailRecord, openBoundAuditLog, orphanTrailProblem, type CheckpointOptions } from './audit/trail.js';
import { EntraTokenVerifier } from './auth/entra-tokens.js';
import { DeviceSecrets } from './directory/device-secrets.js';
import { DeviceDirectory } from './directory/devices.js';
import { createHttpStack } from './directory/http-stack.js';
import { TenantService } from './directory/tenant-service.js';
import type { ServerLimits } from './http/connection-errors.js';
import { loadSpec } from './http/spec.js';
import { packageVersion } from './package-root.js';
import { openJsonFileStore } from './store/json-file-store.js';
import { STATE_FILE, emptyState } from './store/state.js';
import { lockDataDir, type DataDirLock } from './store/lock.js';
import { createSealer, loadMasterKey, type Sealer } from './store/sealing.js';
import type { Store } from './store/store.js';

export { STATE_FILE };
export const BOOTSTRAP_KEY_FILE = 'bootstrap-admin.key';

export interface DaemonOptions {
  dataDir: string;
  /** `$AMS_MASTER_KEY_FILE`; without it the key lives in the data directory. */
  masterKeyFile?: string;
  logger: Logger;
  /** Serve HTTPS with this certificate and key. */
  https?: { cert: Buffer; key: Buffer };
  /** `--ca-file` / `AMS_CA_FILE`: an extra CA to trust for Entra and Graph (private clouds, the simulated tenant). */
  caFile?: string;
  /** The pwsh that runs PowerShell notification channels (`AMS_PWSH`; `pwsh` on the PATH by default). */
  pwshPath?: string;
  /** Waits between notification attempts (tests: milliseconds rather than minutes). */
  notificationBackoffMs?: readonly number[];
  /** Replaces the audit trail's file operations (tests: a disk that fails on demand). */
  auditIo?: Partial<AuditFileIo>;
  /** How often the trail's head is checkpointed into amsd.json (tests: every event). */
  auditCheckpoints?: Pick<CheckpointOptions, 'everyEvents' | 'everyMs'>;
  /** Timeouts and the connection cap of the HTTP server; defaults when absent. */
  serverLimits?: Partial<ServerLimits>;
  /**
   * The data directory's lock, when the caller took it before writing files of its own there (the
   * demo's CA). The daemon releases it as it would its own: on close, or when it cannot open.
   */
  lock?: DataDirLock;
}

export interface Daemon {
  app: FastifyInstance;
  store: Store;
  sealer: Sealer;
  /** The configured Entra tenants; `getWithCredential` gives what signing in to one needs. */
  tenants: TenantService;
  audit: AuditLog;
  rules: RuleService;
  /** Set when this start created the first admin key. */
  bootstrapKeyFile?: string;
}

export async function openDaemon(options: DaemonOptions): Promise<Daemon> {
  const { dataDir, logger } = options;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const lock = options.lock ?? (await lockDataDir(dataDir));
  try {
    const masterKey = await loadMasterKey(dataDir, options.masterKeyFile);
    if (masterKey.generated) logger.info({ file: masterKey.file }, 'generated a new master key for sealing secrets at rest');
    if (masterKey.warning) logger.warn(masterKey.warning);

    const stateFile = join(dataDir, STATE_FILE);
    const auditFile = auditLogPath(dataDir);
    if (!(await exists(stateFile))) {
      const orphan = await orphanTrailProblem(auditFile, stateFile);
      if (orphan) throw new AuditTrailError(auditFile, orphan.problem, orphan.advice);
      await createEmptyTrail(auditFile);
    }
    // A new data directory starts with a new, empty trail, named in its first state.
    const { store, created, removedTempFiles } = await openJsonFileStore(stateFile, {
      initialState: () => ({ ...emptyState(), auditTrail: newTrailRecord(masterKey.key) }),
      onError: (error) => logger.error({ err: error }, 'the data file could not be compacted, or a change could not be applied in memory'),
    });
    if (removedTempFiles.length > 0) logger.info({ files: removedTempFiles }, 'removed temporary copies of the data file left by an interrupted write');
    const { log: audit, warning: auditWarning } = await openBoundAuditLog({
      file: auditFile,
      stateFile,
      store,
      masterKey: masterKey.key,
      ...(options.auditIo ? { io: options.auditIo } : {}),
    });
    if (auditWarning) logger.warn(auditWarning);
    const checkpoints = new AuditCheckpoints(store, audit, masterKey.key, {
      ...options.auditCheckpoints,
      onError: (error) => logger.error({ err: error }, 'could not checkpoint the audit trail in the data file'),
    });
    const sealer = createSealer(masterKey.key);
    const tenants = new TenantService(store, sealer);
    const apiKeys = new ApiKeyService(
      store,
      (tenantId, principalId) => resolveActingUser(tenants, names, tenantId, principalId),
      (error) => logger.warn({ err: error }, 'could not record when an API key was last used'),
    );

    let bootstrapKeyFile: string | undefined;
    if (created) {
      bootstrapKeyFile = join(dataDir, BOOTSTRAP_KEY_FILE);
      await writePrivateFile(bootstrapKeyFile, (await apiKeys.bootstrap()) + '\n');
      logger.info({ file: bootstrapKeyFile }, 'first start: wrote an admin API key to this file (readable by you only)');
    }

    const dispatcher = createHttpStack(options.caFile ? { caFile: options.caFile } : {});
    const connections = new TenantConnections(tenants, dispatcher, packageVersion);
    const devices = new DeviceDirectory(tenants, connections);
    const deviceSecrets = new DeviceSecrets(connections);
    const names = new DirectoryNames(connections);
    const rules = new RuleService(store, names, devices, tenants);
    const limiter = new ReadRateLimiter();
    function applyRetention() {
      const { auditRetentionDays: days, auditMaxEvents: max } = settings.get();
      if (!days && !max) return;
      audit
        .prune({ ...(days ? { olderThan: new Date(Date.now() - days * 86_400_000) } : {}), ...(max ? { keepLast: max } : {}) })
        .then(({ removed }) => removed > 0 && logger.info({ removed }, 'audit retention removed the oldest events'))
        .catch((error: unknown) => logger.error({ err: error }, 'audit retention could not prune the audit trail'));
    }
    const settings = new SettingsService(store);
    settings.subscribe((current) => {
      limiter.setLimits({
        user: { perMinute: current.userRateLimitPerMinute, perHour: current.userRateLimitPerHour, perDay: current.userRateLimitPerDay },
        ip: { perMinute: current.ipRateLimitPerMinute, perHour: current.ipRateLimitPerHour, perDay: current.ipRateLimitPerDay },
      });
      devices.setCacheLifetime(current.deviceCacheSeconds * 1000);
      deviceSecrets.setCacheLifetime(current.groupCacheSeconds * 1000);
      applyRetention();
    });
    // Audit retention: at start, on every settings change, and hourly.
    const retentionTimer = setInterval(() => applyRetention(), 3_600_000);
    retentionTimer.unref();
    const queue = await NotificationQueue.open({
      file: queueFilePath(dataDir),
      ...(options.notificationBackoffMs ? { backoffMs: options.notificationBackoffMs } : {}),
      channel: (id) => store.state.channels.find((c) => c.id === id),
      deliverOptions: { sealer, dispatcher, pwshPath: options.pwshPath ?? DEFAULT_PWSH, userAgent: `amsd/${packageVersion}` },
      // A notification the queue gave up on is never dropped silently: it goes on the audit trail.
      onFinalFailure: async (delivery) => {
        await audit.append({
          type: 'notification.failed',
          actor: { kind: 'system', id: 'amsd', displayName: 'amsd', role: 'admin' },
          ...(delivery.event.requestId ? { requestId: delivery.event.requestId } : {}),
          target: { kind: 'notificationChannel', id: delivery.channelId, ...(delivery.channelName ? { displayName: delivery.channelName } : {}) },
          delivery: { deliveryId: delivery.id, attempts: delivery.attempts, lastError: delivery.lastError, ...(delivery.event.id ? { auditEventId: delivery.event.id } : {}) },
        });
      },
      onError: (error) => logger.error({ err: error }, 'the notification queue cannot be written'),
    });
    const access = new AccessService({
      rules,
      devices,
      secrets: deviceSecrets,
      names,
      audit,
      limiter,
      settings,
      channels: () => store.state.channels,
      queue,
      onNotificationError: (error) => logger.error({ err: error }, 'a notification could not be queued'),
    });
    const channels = new ChannelService(store, sealer, () => queue);
    const entraTokens = new EntraTokenVerifier(tenants, dispatcher, (tenantId, oid) => deviceSecrets.memberGroups(tenantId, 'users', oid));
    const app = await buildApp({
      spec: loadSpec(),
      version: packageVersion,
      logger,
      audit,
      apiKeys,
      entraTokens,
      rules,
      access,
      settings,
      channels,
      queue,
      tenants,
      dispatcher,
      devices,
      ...(options.https ? { https: options.https } : {}),
      ...(options.serverLimits ? { serverLimits: options.serverLimits } : {}),
    });
    queue.start();
    app.addHook('onClose', async () => {
      clearInterval(retentionTimer);
      // Deliveries in flight may still write to the audit trail: stop them first.
      await queue.stop();
      await checkpoints.close().catch((error: unknown) => logger.error({ err: error }, 'could not checkpoint the audit trail in the data file'));
      await apiKeys.close().catch((error: unknown) => logger.warn({ err: error }, 'could not record when API keys were last used'));
      await store.close();
      await audit.close();
      await dispatcher.close();
      await lock.release();
    });
    return { app, store, sealer, tenants, audit, rules, ...(bootstrapKeyFile ? { bootstrapKeyFile } : {}) };
  } catch (error) {
    await lock.release();
    throw error;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Writes a file only its owner can read, and makes it durable before returning. */
export async function writePrivateFile(file: string, content: string) {
  const handle = await open(file, 'w', 0o600);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
