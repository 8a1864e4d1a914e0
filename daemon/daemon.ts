/**
 * Opens a data directory and builds the daemon on it, one area at a time: the data (lock, master key,
 * state), the audit trail, the directory (tenants and the Graph/Entra stack), sign-in, notifications,
 * password rotation, access, and the app. Each area registers its close as it opens; closing the app
 * closes them in the reverse order, and an open that fails half-way closes what it had opened.
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
import { ReadRateLimiter, type ReadLimits } from './access/rate-limit.js';
import { RuleService } from './access/rule-service.js';
import { ChannelService } from './notifications/channel-service.js';
import { DEFAULT_PWSH } from './notifications/deliver.js';
import { NotificationQueue, queueFilePath, type DeliveryQueue, type NotificationQueueOptions } from './notifications/queue.js';
import { enabledChannels } from './notifications/channel-references.js';
import { FileRotationJobStore, rotationJobsFilePath } from './rotation/file-jobs.js';
import type { RotationJobStore } from './rotation/rotation-jobs.js';
import { RotationService } from './rotation/rotation-service.js';
import { SettingsService } from './settings/settings-service.js';
import { auditLogPath, type AuditFileIo } from './audit/audit-log.js';
import type { AuditTrail } from './audit/audit-trail.js';
import { AuditCheckpoints, AuditTrailError, closeAuditLog, createEmptyTrail, newTrailRecord, openBoundAuditLog, orphanTrailProblem, type CheckpointOptions } from './audit/trail.js';
import { EntraTokenVerifier } from './auth/entra-tokens.js';
import { CloseStack } from './common/close-stack.js';
import { DeviceSecrets } from './directory/device-secrets.js';
import { DeviceDirectory } from './directory/devices.js';
import { findManagedDevice, probeRotatePermission, rotateLocalAdminPassword } from './directory/intune.js';
import { createHttpStack } from './directory/http-stack.js';
import { TenantService } from './directory/tenant-service.js';
import type { ServerLimits } from './http/connection-errors.js';
import { loadSpec } from '../openapi/contract.js';
import { packageVersion } from '../openapi/package-root.js';
import { openJsonFileStore } from './store/json-file-store.js';
import type { PostgresStore } from './store/postgres/postgres-store.js';
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
  /**
   * `--database` / `AMS_DATABASE_URL`: keep the state (API keys, tenants, rules, channels, settings),
   * the audit trail (one chain for all), the notification queue and the rate-limit counters in this
   * PostgreSQL database, shared with the other daemons on it.
   */
  databaseUrl?: string;
  logger: Logger;
  /** Serve HTTPS with this certificate and key. */
  https?: { cert: Buffer; key: Buffer };
  /** `--ca-file` / `AMS_CA_FILE`: an extra CA to trust for Entra and Graph (private clouds, the simulated tenant). */
  caFile?: string;
  /** The pwsh that runs PowerShell notification channels (`AMS_PWSH`; `pwsh` on the PATH by default). */
  pwshPath?: string;
  /** Timeouts and the connection cap of the HTTP server; defaults when absent. */
  serverLimits?: Partial<ServerLimits>;
  /**
   * The data directory's lock, when the caller took it before writing files of its own there (the
   * demo's CA). The daemon releases it as it would its own: on close, or when it cannot open.
   */
  lock?: DataDirLock;
  /** What only tests change. */
  testing?: DaemonTestingOptions;
}

export interface DaemonTestingOptions {
  /** Waits between notification attempts: milliseconds rather than minutes. */
  notificationBackoffMs?: readonly number[];
  /** Replaces the audit trail's file operations: a disk that fails on demand. */
  auditIo?: Partial<AuditFileIo>;
  /** How often the trail's head is checkpointed into amsd.json: every few events, say. */
  auditCheckpoints?: Pick<CheckpointOptions, 'everyEvents' | 'everyMs'>;
  /** Filled with every route the app registers, as `METHOD /url`, to compare with the spec. */
  registeredRoutes?: string[];
  /** On PostgreSQL: how often the revision is asked besides the notifications. */
  databasePollMs?: number;
  /** On PostgreSQL: how long a claimed notification stays its daemon's, and how often due ones are looked for. */
  notificationLeaseMs?: number;
  notificationPollMs?: number;
  /** Waits between rotation attempts, and how often due rotations are looked for. */
  rotationBackoffMs?: readonly number[];
  rotationPollMs?: number;
  /** How long a read waits to learn whether Intune can rotate. */
  rotationReadCheckMs?: number;
}

export interface Daemon {
  app: FastifyInstance;
  store: Store;
  sealer: Sealer;
  /** The configured Entra tenants; `getWithCredential` gives what signing in to one needs. */
  tenants: TenantService;
  audit: AuditTrail;
  rules: RuleService;
  /** Set when this start created the first admin key. */
  bootstrapKeyFile?: string;
}

export async function openDaemon(options: DaemonOptions): Promise<Daemon> {
  const { logger } = options;
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const closes = new CloseStack();
  try {
    const data = await openData(options, closes);
    const settings = new SettingsService(data.store);
    const audit = await openAudit(options, data, settings, closes);
    const directory = openDirectory(options, data, closes);
    const auth = await openAuth(options, data, directory, closes);
    const notifications = await openNotifications(options, data, directory, audit.log, closes);
    const rotation = await openRotation(options, data, directory, audit.log, settings, notifications.queue, closes);
    const access = await openAccess(options, data, directory, audit.log, settings, notifications.queue, rotation, closes);
    settings.subscribe((current) => {
      access.limiter.setLimits({
        user: { perMinute: current.userRateLimitPerMinute, perHour: current.userRateLimitPerHour, perDay: current.userRateLimitPerDay },
        ip: { perMinute: current.ipRateLimitPerMinute, perHour: current.ipRateLimitPerHour, perDay: current.ipRateLimitPerDay },
      });
      directory.devices.setCacheLifetime(current.deviceCacheSeconds * 1000);
      directory.deviceSecrets.setCacheLifetime(current.groupCacheSeconds * 1000);
      audit.applyRetention();
    });
    const app = await buildApp({
      spec: loadSpec(),
      version: packageVersion,
      logger,
      audit: audit.log,
      apiKeys: auth.apiKeys,
      entraTokens: auth.entraTokens,
      rules: access.rules,
      access: access.service,
      settings,
      channels: notifications.channels,
      queue: notifications.queue,
      tenants: directory.tenants,
      dispatcher: directory.dispatcher,
      devices: directory.devices,
      ...(options.https ? { https: options.https } : {}),
      ...(options.serverLimits ? { serverLimits: options.serverLimits } : {}),
      ...(options.testing?.registeredRoutes ? { registeredRoutes: options.testing.registeredRoutes } : {}),
      ...(data.database ? { databaseAnswers: data.database.ping.bind(data.database) } : {}),
    });
    notifications.queue.start();
    rotation.start();
    app.addHook('onClose', async () => {
      await closes.close();
    });
    return {
      app,
      store: data.store,
      sealer: directory.sealer,
      tenants: directory.tenants,
      audit: audit.log,
      rules: access.rules,
      ...(auth.bootstrapKeyFile ? { bootstrapKeyFile: auth.bootstrapKeyFile } : {}),
    };
  } catch (error) {
    // What opened is closed; a failure to close is logged, the failure to open is what the caller sees.
    await closes.close().catch((closeError: unknown) => logger.error({ err: closeError }, 'could not close what had opened'));
    throw error;
  }
}

type Data = Awaited<ReturnType<typeof openData>>;

/** The lock, the master key and the state file (with a new, empty audit trail in a new data directory). */
async function openData(options: DaemonOptions, closes: CloseStack) {
  const { dataDir, logger } = options;
  const lock = options.lock ?? (await lockDataDir(dataDir));
  closes.push('the data directory lock', () => lock.release());
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
  closes.push('the data file', () => store.close());
  if (removedTempFiles.length > 0) logger.info({ files: removedTempFiles }, 'removed temporary copies of the data file left by an interrupted write');
  // The file trail's record (the auditTrail document) stays in amsd.json; on PostgreSQL the shared state holds the shared trail's.
  const local = { dataDir, masterKey: masterKey.key, stateFile, auditFile, auditStore: store };
  if (!options.databaseUrl) return { ...local, store, created, database: undefined };
  const shared = await openSharedState(options, options.databaseUrl, masterKey, closes);
  // The first daemon on a database writes the first admin key, whatever its data directory holds.
  return { ...local, store: shared.store as Store, created: shared.firstStart, database: shared.store };
}

/** The state in PostgreSQL: the schema migrated, the master key checked, other daemons' changes followed. */
async function openSharedState(options: DaemonOptions, url: string, masterKey: { key: Buffer; file: string }, closes: CloseStack): Promise<{ store: PostgresStore; firstStart: boolean }> {
  const { logger } = options;
  // Loaded only with --database: the embedded store's daemon never loads pg.
  const { openPostgresStore } = await import('./store/postgres/postgres-store.js');
  const { store, migration, firstStart } = await openPostgresStore({
    url,
    masterKey: masterKey.key,
    masterKeyFile: masterKey.file,
    ...(options.testing?.databasePollMs ? { pollMs: options.testing.databasePollMs } : {}),
    onError: (error) => logger.error({ err: error }, 'the state in PostgreSQL: a connection failed or a change of another daemon could not be applied; retrying'),
  });
  closes.push('the PostgreSQL store', () => store.close());
  if (migration.applied.length > 0) logger.info({ database: store.database, from: migration.from, to: migration.to }, 'migrated the database schema');
  logger.info({ database: store.database, revision: store.revision }, 'the state is in PostgreSQL');
  return { store, firstStart };
}

/** The audit log bound to the state, its checkpoints, and retention (at start, on every settings change, and hourly). */
async function openAudit(options: DaemonOptions, data: Data, settings: SettingsService, closes: CloseStack) {
  const { logger, testing } = options;
  const { log, checkpointStore } = data.database ? await openSharedAudit(data.database, data, closes) : await openFileAudit(options, data, closes);
  const checkpoints = new AuditCheckpoints(checkpointStore, log, data.masterKey, {
    ...testing?.auditCheckpoints,
    onError: (error) => logger.error({ err: error }, 'could not checkpoint the audit trail in the state'),
  });
  // The last checkpoint comes after the last append (closes run newest first) and before the store closes.
  closes.push('the audit checkpoints', () =>
    checkpoints.close().catch((error: unknown) => logger.error({ err: error }, 'could not checkpoint the audit trail in the data file')),
  );
  function applyRetention() {
    const { auditRetentionDays: days, auditMaxEvents: max } = settings.get();
    if (!days && !max) return;
    log
      .prune({ ...(days ? { olderThan: new Date(Date.now() - days * 86_400_000) } : {}), ...(max ? { keepLast: max } : {}) })
      .then(({ removed }) => removed > 0 && logger.info({ removed }, 'audit retention removed the oldest events'))
      .catch((error: unknown) => logger.error({ err: error }, 'audit retention could not prune the audit trail'));
  }
  const retentionTimer = setInterval(() => applyRetention(), 3_600_000);
  retentionTimer.unref();
  closes.push('the audit retention timer', () => clearInterval(retentionTimer));
  return { log, applyRetention };
}

/** The data directory's own trail, its checkpoint in amsd.json. */
async function openFileAudit(options: DaemonOptions, data: Data, closes: CloseStack): Promise<{ log: AuditTrail; checkpointStore: Store }> {
  const { logger, testing } = options;
  const { log, warning, indexCache } = await openBoundAuditLog({
    file: data.auditFile,
    stateFile: data.stateFile,
    store: data.auditStore,
    masterKey: data.masterKey,
    ...(testing?.auditIo ? { io: testing.auditIo } : {}),
  });
  closes.push('the audit log', () =>
    closeAuditLog(log, (error) => logger.warn({ err: error }, 'could not write the audit index cache; the next start reads the whole trail')),
  );
  if (warning) logger.warn(warning);
  logger.debug({ indexCache }, 'audit trail opened');
  return { log, checkpointStore: data.auditStore };
}

/** The trail every daemon on the database shares, its checkpoint in the shared state. */
async function openSharedAudit(database: PostgresStore, data: Data, closes: CloseStack): Promise<{ log: AuditTrail; checkpointStore: Store }> {
  const { openPostgresAuditTrail } = await import('./audit/postgres-trail.js');
  const log = await openPostgresAuditTrail({ pool: database.pool, store: database, masterKey: data.masterKey, database: database.database });
  closes.push('the audit trail in PostgreSQL', () => log.close());
  return { log, checkpointStore: database };
}

type Directory = ReturnType<typeof openDirectory>;

/** The tenants (their secrets sealed) and what reads Entra and Graph for them, through one HTTP stack. */
function openDirectory(options: DaemonOptions, data: Data, closes: CloseStack) {
  const sealer = createSealer(data.masterKey);
  const tenants = new TenantService(data.store, sealer);
  const dispatcher = createHttpStack(options.caFile ? { caFile: options.caFile } : {});
  closes.push('the HTTP stack for Entra and Graph', () => dispatcher.close());
  const connections = new TenantConnections(tenants, dispatcher, packageVersion);
  return {
    sealer,
    tenants,
    dispatcher,
    connections,
    devices: new DeviceDirectory(tenants, connections),
    deviceSecrets: new DeviceSecrets(connections),
    names: new DirectoryNames(connections),
  };
}

/** API keys (the first start writes an admin key to a file) and Entra ID access tokens. */
async function openAuth(options: DaemonOptions, data: Data, directory: Directory, closes: CloseStack) {
  const { logger } = options;
  const apiKeys = new ApiKeyService(
    data.store,
    (tenantId, principalId) => resolveActingUser(directory.tenants, directory.names, tenantId, principalId),
    (error) => logger.warn({ err: error }, 'could not record when an API key was last used'),
  );
  // Closed before the data file (closes run newest first): the last uses noted in memory are written.
  closes.push('the API keys\' last uses', () =>
    // A lost last-use time is bookkeeping, not data: logged, and the rest still closes cleanly.
    apiKeys.close().catch((error: unknown) => logger.warn({ err: error }, 'could not record when API keys were last used')),
  );
  let bootstrapKeyFile: string | undefined;
  if (data.created) {
    bootstrapKeyFile = join(data.dataDir, BOOTSTRAP_KEY_FILE);
    await writePrivateFile(bootstrapKeyFile, (await apiKeys.bootstrap()) + '\n');
    logger.info({ file: bootstrapKeyFile }, 'first start: wrote an admin API key to this file (readable by you only)');
  }
  const entraTokens = new EntraTokenVerifier(directory.tenants, directory.dispatcher, (tenantId, oid) =>
    directory.deviceSecrets.memberGroups(tenantId, 'users', oid),
  );
  return { apiKeys, entraTokens, bootstrapKeyFile };
}

/** The durable notification queue (started once the app is built) and the channels it delivers to. */
async function openNotifications(options: DaemonOptions, data: Data, directory: Directory, audit: AuditTrail, closes: CloseStack) {
  const { logger, testing } = options;
  const { store } = data;
  const queueOptions: Omit<NotificationQueueOptions, 'file'> = {
    ...(testing?.notificationBackoffMs ? { backoffMs: testing.notificationBackoffMs } : {}),
    channel: (id) => store.state.channels.find((c) => c.id === id),
    deliverOptions: { sealer: directory.sealer, dispatcher: directory.dispatcher, pwshPath: options.pwshPath ?? DEFAULT_PWSH, userAgent: `amsd/${packageVersion}` },
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
  };
  let queue: DeliveryQueue;
  if (data.database) {
    // Shared by the daemons on the database: each delivery claimed and made by one of them.
    const { PostgresNotificationQueue } = await import('./notifications/postgres-queue.js');
    queue = new PostgresNotificationQueue({
      ...queueOptions,
      pool: data.database.pool,
      reachability: data.database.reachability,
      ...(testing?.notificationLeaseMs ? { leaseMs: testing.notificationLeaseMs } : {}),
      ...(testing?.notificationPollMs ? { pollMs: testing.notificationPollMs } : {}),
    });
    // An earlier amsd kept the queue in the data directory even with --database: what it holds is not taken over.
    if (await exists(queueFilePath(data.dataDir))) {
      logger.warn({ file: queueFilePath(data.dataDir) }, 'the notification queue is in the database now: this file of an earlier amsd is not delivered from; move it away once it holds nothing you need');
    }
  } else {
    queue = await NotificationQueue.open({ ...queueOptions, file: queueFilePath(data.dataDir) });
  }
  // Deliveries in flight may still write to the audit trail and use the HTTP stack: they stop first.
  closes.push('the notification queue', () => queue.stop());
  return { queue, channels: new ChannelService(store, directory.sealer, () => queue) };
}

/** The rules, the read rate limits (in memory, or shared in PostgreSQL) and the service that decides and serves secret reads. */
async function openAccess(options: DaemonOptions, data: Data, directory: Directory, audit: AuditTrail, settings: SettingsService, queue: DeliveryQueue, rotation: RotationService, closes: CloseStack) {
  const { logger } = options;
  const { store } = data;
  const rules = new RuleService(store, directory.names, directory.devices, directory.tenants);
  let limiter: ReadLimits;
  if (data.database) {
    const { SharedReadRateLimiter } = await import('./access/shared-rate-limit.js');
    const shared = new SharedReadRateLimiter({
      pool: data.database.pool,
      reachability: data.database.reachability,
      onError: (error) => logger.warn({ err: error }, 'could not prune the old rate-limit counters; trying again later'),
    });
    closes.push('the shared rate limits', () => shared.close());
    limiter = shared;
  } else {
    limiter = new ReadRateLimiter();
  }
  const service = new AccessService({
    rules,
    devices: directory.devices,
    secrets: directory.deviceSecrets,
    names: directory.names,
    audit,
    limiter,
    settings,
    channels: () => store.state.channels,
    queue,
    rotation,
    onNotificationError: (error) => logger.error({ err: error }, 'a notification could not be queued'),
  });
  return { rules, limiter, service };
}

/**
 * Rotation of LAPS passwords through Intune: the jobs in the data directory, or in the database (each
 * run by one daemon), asked of Intune through each tenant's Graph client. A final failure is told to
 * the failure channels of the rule that scheduled it and the global ones.
 */
async function openRotation(options: DaemonOptions, data: Data, directory: Directory, audit: AuditTrail, settings: SettingsService, queue: DeliveryQueue, closes: CloseStack) {
  const { logger } = options;
  const { store } = data;
  let jobs: RotationJobStore;
  if (data.database) {
    const { PostgresRotationJobStore } = await import('./rotation/postgres-jobs.js');
    jobs = new PostgresRotationJobStore({ pool: data.database.pool, reachability: data.database.reachability });
    // As with the notification queue: jobs an embedded amsd kept in the data directory are not taken over.
    if (await exists(rotationJobsFilePath(data.dataDir))) {
      logger.warn({ file: rotationJobsFilePath(data.dataDir) }, 'password rotations are kept in the database now: the pending ones in this file of an earlier amsd are not run; ask for them again (Reset-AmsLocalAdminPassword) and move the file away');
    }
  } else {
    const file = await FileRotationJobStore.open({ file: rotationJobsFilePath(data.dataDir) });
    // Closed after the worker (pushed first): a change under way is written before the lock goes.
    closes.push('the password rotation jobs file', () => file.idle());
    jobs = file;
  }
  const graph = (tenantId: string) => directory.connections.graphFor(tenantId);
  const rotation = new RotationService({
    jobs,
    audit,
    intune: {
      findManagedDevice: async (tenantId, deviceId, deadline) => (await findManagedDevice(graph(tenantId), deviceId, deadline ? { deadline } : {}))?.id,
      rotate: (tenantId, managedDeviceId) => rotateLocalAdminPassword(graph(tenantId), managedDeviceId),
      mayRotate: (tenantId, deadline) => probeRotatePermission(graph(tenantId), deadline ? { deadline } : {}),
    },
    notifyFailure: (event, ruleId) => {
      const rule = ruleId ? store.get('rules', ruleId) : undefined;
      const channels = enabledChannels(store.state.channels, [...(rule?.notificationChannelsFailure ?? []), ...settings.get().globalChannelsFailure]);
      for (const channel of channels) {
        queue.enqueue(channel.id, event, rule ? { ruleDescription: rule.description } : {}).catch((error: unknown) => logger.error({ err: error }, 'a notification could not be queued'));
      }
    },
    ...(options.testing?.rotationBackoffMs ? { backoffMs: options.testing.rotationBackoffMs } : {}),
    ...(options.testing?.rotationPollMs ? { pollMs: options.testing.rotationPollMs } : {}),
    ...(options.testing?.rotationReadCheckMs ? { readCheckMs: options.testing.rotationReadCheckMs } : {}),
    onError: (error) => logger.error({ err: error }, 'a password rotation could not be run or recorded; it is tried again later'),
  });
  // Jobs running may still write to the audit trail and use the HTTP stack: they stop first.
  closes.push('the password rotations', () => rotation.stop());
  return rotation;
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
