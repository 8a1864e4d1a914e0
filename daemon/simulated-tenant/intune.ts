/**
 * The Intune routes amsd uses, under Graph beta's `/beta/deviceManagement/`, played as Microsoft
 * documents them and as Intune is seen to answer where the documentation is wrong:
 *
 * - `GET /beta/deviceManagement/managedDevices[?$filter=azureADDeviceId eq '<guid>'][&$select=...]`: a
 *   collection (`value`), empty for a device Intune does not manage. Needs
 *   DeviceManagementManagedDevices.Read.All or ReadWrite.All
 *   (https://learn.microsoft.com/graph/api/intune-devices-manageddevice-list?view=graph-rest-beta);
 *   PrivilegedOperations.All does not read ("perform remote high impact actions", nothing more).
 * - `GET /beta/deviceManagement/managedDevices/{id}`: one record, or 404.
 * - `POST /beta/deviceManagement/managedDevices/{id}/rotateLocalAdminPassword`: the permission first (403
 *   without PrivilegedOperations.All, whatever the id: the documentation lists Read scopes, Intune asks
 *   for that one, https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/87), then 404
 *   ResourceNotFound for an unknown id, then 204 No Content
 *   (https://learn.microsoft.com/graph/api/intune-devices-manageddevice-rotatelocaladminpassword?view=graph-rest-beta).
 *   The 204 only says Intune took the action: an online device rotates `rotationDelayMs` later (it
 *   checks in, sets a new password and backs it up to Entra, so deviceLocalCredentials shows it); an
 *   offline one rotates once it is set online.
 *
 * Intune's errors carry, inside Graph's `error.message`, a JSON text of their own
 * (`{"_version": 3, "Message": "... - Operation ID ... - Url: ...", ...}`), as in the issue above and in
 * https://github.com/ThomasKur/IntuneDocumentation/issues/39 (a 404 ResourceNotFound).
 *
 * For tests and the demo (`tenant.intune`): isManaged / managedDeviceId / setOnline by Entra deviceId,
 * the `rotations` received, `rotationDelayMs` (changeable), and rotationsApplied(deviceId) to wait for
 * a device to have carried out every action it was sent. Faults (faults.ts) apply under `/beta/` as
 * under `/v1.0/`.
 */
import { randomInt } from 'node:crypto';
import type { SeededDevice, SeededDirectory, SeededManagedDevice } from './directory-data.js';
import { authorizeGraphCall, parseFilter, project, selectOf } from './graph.js';
import { graphError, json, type Reply, type RouteRequest } from './http.js';
import type { Identity } from './identity.js';

const READ_PERMISSIONS = ['DeviceManagementManagedDevices.Read.All', 'DeviceManagementManagedDevices.ReadWrite.All'];
const ROTATE_PERMISSION = 'DeviceManagementManagedDevices.PrivilegedOperations.All';
const PREFIX = '/beta/deviceManagement';
const PASSWORD_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#%+-=?@';
const DAY = 24 * 60 * 60 * 1000;

/** One rotateLocalAdminPassword action Intune accepted (204). */
export interface IntuneRotation {
  managedDeviceId: string;
  /** The Entra deviceId of the device. */
  deviceId: string;
  /** When the action was received (Date.now()). */
  at: number;
  /** Whether the device has carried it out: checked in and, if it has a LAPS backup, backed up a new password. */
  applied: boolean;
  appliedAt?: number;
}

/** What tests and the demo see of Intune: `tenant.intune`. Devices are named by their Entra deviceId. */
export interface SimulatedIntune {
  /** Whether Intune manages the device. */
  isManaged(deviceId: string): boolean;
  /** The device's Intune id; undefined when Intune does not manage it. */
  managedDeviceId(deviceId: string): string | undefined;
  /**
   * Takes a managed device offline (actions wait) or back online (it checks in: actions waiting for it
   * are carried out `rotationDelayMs` later). Throws for a device Intune does not manage.
   */
  setOnline(deviceId: string, online: boolean): void;
  /** Every action Intune accepted, oldest first. */
  readonly rotations: readonly IntuneRotation[];
  /** How long after the action (or after coming online) a device rotates; changeable (0: at once). */
  rotationDelayMs: number;
  /** Resolves once every action received for the device has been carried out (at once when none waits). */
  rotationsApplied(deviceId: string): Promise<void>;
}

type Ctx = RouteRequest & { roles: Set<string> };
type Item = Record<string, unknown>;

export class Intune implements SimulatedIntune {
  readonly rotations: IntuneRotation[] = [];
  rotationDelayMs: number;
  /** A device's check-in timer, while it has actions to carry out and is online. */
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #waiters = new Map<string, (() => void)[]>();
  #closed = false;

  constructor(
    private readonly directory: SeededDirectory,
    private readonly identity: Identity,
    private readonly host: string,
    options: { rotationDelayMs?: number } = {},
  ) {
    this.rotationDelayMs = options.rotationDelayMs ?? 1000;
  }

  /** Routes under `/beta/`; undefined for any other path. */
  async handle(req: RouteRequest): Promise<Reply | undefined> {
    if (!req.url.pathname.startsWith('/beta/')) return undefined;
    const authorized = await authorizeGraphCall(req, this.identity);
    return 'reply' in authorized ? authorized.reply : this.#route({ ...req, roles: authorized.roles });
  }

  #route(req: Ctx): Reply {
    const path = req.url.pathname.replace(/\/+$/, '');
    let m: RegExpExecArray | null;
    if (path === `${PREFIX}/managedDevices`) return req.method === 'GET' ? this.#list(req) : methodNotAllowed(req);
    if ((m = new RegExp(`^${PREFIX}/managedDevices/([^/]+)/rotateLocalAdminPassword$`).exec(path))) {
      return req.method === 'POST' ? this.#rotate(req, decodeURIComponent(m[1]!).toLowerCase()) : methodNotAllowed(req);
    }
    if ((m = new RegExp(`^${PREFIX}/managedDevices/([^/]+)$`).exec(path))) {
      if (req.method !== 'GET') return methodNotAllowed(req);
      const id = decodeURIComponent(m[1]!).toLowerCase();
      const denied = this.#needRead(req, 'deviceManagement/managedDevices');
      if (denied) return denied;
      const device = this.#byManagedId(id);
      if (!device) return notFound(req, `deviceManagement/managedDevices('${id}')`);
      const select = selectOf(req);
      const item = managedDeviceView(device);
      return json(200, { '@odata.context': `${this.host}/beta/$metadata#deviceManagement/managedDevices/$entity`, ...(select ? project(item, select) : item) });
    }
    return graphError(req, 400, 'BadRequest', `Resource not found for the segment '${path.split('/')[3] ?? path.split('/')[2] ?? ''}'.`);
  }

  #list(req: Ctx): Reply {
    const denied = this.#needRead(req, 'deviceManagement/managedDevices');
    if (denied) return denied;
    let items = this.directory.devices.filter((d) => d.intune).map(managedDeviceView);
    const filter = req.url.searchParams.get('$filter');
    if (filter) {
      const predicate = parseFilter(filter);
      if (typeof predicate === 'string') return graphError(req, 400, 'BadRequest', predicate);
      items = items.filter(predicate);
    }
    const select = selectOf(req);
    return json(200, {
      '@odata.context': `${this.host}/beta/$metadata#deviceManagement/managedDevices${select ? `(${select.join(',')})` : ''}`,
      value: select ? items.map((item) => project(item, select)) : items,
    });
  }

  #rotate(req: Ctx, managedDeviceId: string): Reply {
    const url = `deviceManagement/managedDevices('${managedDeviceId}')/microsoft.management.services.api.rotateLocalAdminPassword`;
    if (!req.roles.has(ROTATE_PERMISSION)) return forbidden(req, [ROTATE_PERMISSION], url);
    const device = this.#byManagedId(managedDeviceId);
    if (!device) return notFound(req, url);
    this.rotations.push({ managedDeviceId, deviceId: device.deviceId, at: Date.now(), applied: false });
    if (device.intune.online) this.#checkInLater(device);
    return { status: 204 };
  }

  isManaged(deviceId: string): boolean {
    return this.#device(deviceId)?.intune !== undefined;
  }

  managedDeviceId(deviceId: string): string | undefined {
    return this.#device(deviceId)?.intune?.managedDeviceId;
  }

  setOnline(deviceId: string, online: boolean): void {
    const device = this.#device(deviceId);
    if (!device?.intune) throw new Error(`Intune does not manage the device ${deviceId}`);
    device.intune.online = online;
    if (online) {
      if (this.#pending(device.deviceId).length > 0) this.#checkInLater(device);
    } else {
      // Gone before it checked in: its actions wait for the next time it is online.
      clearTimeout(this.#timers.get(device.deviceId));
      this.#timers.delete(device.deviceId);
    }
  }

  rotationsApplied(deviceId: string): Promise<void> {
    const key = deviceId.toLowerCase();
    if (this.#pending(key).length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.set(key, [...(this.#waiters.get(key) ?? []), resolve]));
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  /** The device checks in after `rotationDelayMs`, unless a check-in is already due. */
  #checkInLater(device: SeededDevice): void {
    if (this.#closed || this.#timers.has(device.deviceId)) return;
    const timer = setTimeout(() => {
      this.#timers.delete(device.deviceId);
      this.#checkIn(device);
    }, this.rotationDelayMs);
    timer.unref();
    this.#timers.set(device.deviceId, timer);
  }

  /**
   * The device carries out the actions waiting for it: one new password, however many actions asked
   * for one, backed up to Entra as Windows LAPS does. A device without LAPS has nothing to rotate.
   */
  #checkIn(device: SeededDevice): void {
    const pending = this.#pending(device.deviceId);
    if (pending.length === 0 || !device.intune?.online) return;
    if (device.laps) backUpNewPassword(device);
    const now = Date.now();
    for (const rotation of pending) Object.assign(rotation, { applied: true, appliedAt: now });
    for (const resolve of this.#waiters.get(device.deviceId) ?? []) resolve();
    this.#waiters.delete(device.deviceId);
  }

  #pending(deviceId: string): IntuneRotation[] {
    return this.rotations.filter((r) => r.deviceId === deviceId && !r.applied);
  }

  #device(deviceId: string): SeededDevice | undefined {
    const key = deviceId.toLowerCase();
    return this.directory.devices.find((d) => d.deviceId === key);
  }

  #byManagedId(managedDeviceId: string): (SeededDevice & { intune: SeededManagedDevice }) | undefined {
    return this.directory.devices.find((d): d is SeededDevice & { intune: SeededManagedDevice } => d.intune?.managedDeviceId === managedDeviceId);
  }

  #needRead(req: Ctx, url: string): Reply | undefined {
    return READ_PERMISSIONS.some((p) => req.roles.has(p)) ? undefined : forbidden(req, READ_PERMISSIONS, url);
  }
}

/**
 * A new current password, as the device backs it up: newest in `expected`, and in the served history
 * in the order that device serves it (some serve oldest first); the history keeps its length, the
 * oldest entry giving way. Same account, same encoding as the password it replaces.
 */
function backUpNewPassword(device: SeededDevice): void {
  const laps = device.laps!;
  const current = laps.expected[0]!;
  const servedNewestFirst = laps.credentials[0]!.backupDateTime === current.backupDateTime;
  const servedCurrent = laps.credentials.find((c) => c.backupDateTime === current.backupDateTime)!;
  const password = Array.from({ length: 20 }, () => PASSWORD_ALPHABET[randomInt(PASSWORD_ALPHABET.length)]).join('');
  const backupDateTime = new Date().toISOString();
  const credential = {
    accountName: current.account,
    ...(servedCurrent.accountSid ? { accountSid: servedCurrent.accountSid } : {}),
    backupDateTime,
    passwordBase64: Buffer.from(password, current.encoding).toString('base64'),
  };
  laps.expected = [{ ...current, password, backupDateTime }, ...laps.expected.slice(0, -1)];
  laps.credentials = servedNewestFirst ? [credential, ...laps.credentials.slice(0, -1)] : [...laps.credentials.slice(1), credential];
  laps.lastBackupDateTime = backupDateTime;
  laps.refreshDateTime = new Date(Date.parse(backupDateTime) + 30 * DAY).toISOString();
}

function managedDeviceView(d: SeededDevice): Item {
  return {
    id: d.intune!.managedDeviceId,
    deviceName: d.displayName,
    azureADDeviceId: d.deviceId,
    operatingSystem: d.operatingSystem,
    osVersion: d.operatingSystemVersion,
    managedDeviceOwnerType: 'company',
    managementAgent: 'mdm',
    lastSyncDateTime: d.approximateLastSignInDateTime,
  };
}

/** Graph's error body with Intune's own JSON text as its message. */
function intuneError(req: RouteRequest, status: number, code: string, message: string, url: string): Reply {
  const inner = {
    _version: 3,
    Message: `${message} - Operation ID (for customer support): 00000000-0000-0000-0000-000000000000 - Activity ID: ${req.requestId} - Url: https://fef.msua02.manage.microsoft.com/DeviceFE/StatelessDeviceFEService/${url}?api-version=5023-05-01`,
    CustomApiErrorPhrase: '',
    RetryAfter: null,
    ErrorSourceService: '',
    HttpHeaders: '{}',
  };
  return graphError(req, status, code, JSON.stringify(inner, null, 2).replace(/\n/g, '\r\n'));
}

const forbidden = (req: RouteRequest, scopes: string[], url: string) =>
  intuneError(req, 403, 'Forbidden', `Application is not authorized to perform this operation. Application must have one of the following scopes: ${scopes.join(', ')}`, url);
const notFound = (req: RouteRequest, url: string) => intuneError(req, 404, 'ResourceNotFound', 'An error has occurred', url);
const methodNotAllowed = (req: RouteRequest) => graphError(req, 405, 'BadRequest', `The HTTP method '${req.method}' is not allowed for this resource.`);
