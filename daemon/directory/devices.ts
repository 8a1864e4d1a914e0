/**
 * Finding a device in Entra ID by name or registration id, across every enabled tenant (or one).
 * Names are not unique in Entra: several matches are a 409 that lists the candidates, so the caller
 * can pick by id. Lookups (never secrets) are cached for a short time: an admin piping a list of
 * names, or reading a password right after looking the device up, costs one Graph call per name.
 */
import type { components } from '../../openapi/ams.js';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ConflictError, NotFoundError, ValidationError } from '../common/errors.js';
import type { TenantConnections } from './connections.js';
import { deadlineOption, type Deadline } from './deadline.js';
import { TenantNotFoundError, type TenantService } from './tenant-service.js';
import { TtlCache } from './ttl-cache.js';

export type Device = components['schemas']['Device'];
export type DevicePage = components['schemas']['DeviceList'];

/** Where a listing goes on: a tenant, and Graph's next link within it (absent: its first page). */
interface ListPosition {
  tenantId: string;
  nextLink?: string;
}

interface GraphDevice {
  id: string;
  deviceId: string;
  displayName: string;
  operatingSystem?: string;
  trustType?: string;
  approximateLastSignInDateTime?: string;
}

const SELECT = 'id,deviceId,displayName,operatingSystem,trustType,approximateLastSignInDateTime';
export const DEFAULT_DEVICE_CACHE_MS = 60_000;

function toDevice(d: GraphDevice, tenantId: string): Device {
  return {
    deviceName: d.displayName,
    deviceId: d.deviceId,
    objectId: d.id,
    tenantId,
    ...(d.operatingSystem ? { operatingSystem: d.operatingSystem } : {}),
    ...(d.trustType ? { trustType: d.trustType } : {}),
    ...(d.approximateLastSignInDateTime ? { approximateLastSignInDateTime: d.approximateLastSignInDateTime } : {}),
  };
}

/** No device matches the name or id asked for. */
export class DeviceNotFoundError extends NotFoundError {}

/** Several devices match a name; `candidates` lists them, so that the caller can pick one by id. */
export class AmbiguousDeviceError extends ConflictError {}

/** There is no tenant to look in: none is enabled, or the one asked for is disabled (an unknown one is a TenantNotFoundError). */
export class NoTenantToSearchError extends ConflictError {}

/** Why `resolve` found no single device: none, several, or no tenant to look in. */
export function isDeviceLookupRefusal(error: unknown): error is DeviceNotFoundError | AmbiguousDeviceError | NoTenantToSearchError | TenantNotFoundError {
  return error instanceof DeviceNotFoundError || error instanceof AmbiguousDeviceError || error instanceof NoTenantToSearchError || error instanceof TenantNotFoundError;
}

/** An OData string literal: single quotes are escaped by doubling them. */
export function odataString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export class DeviceDirectory {
  readonly #cache: TtlCache<Device[]>;
  /**
   * Signs listing cursors. A cursor carries a Graph link the daemon will call with its own token, so
   * it must be one the daemon issued; the key lives as long as the process (a restart ends listings).
   */
  readonly #cursorKey = randomBytes(32);

  constructor(
    private readonly tenants: TenantService,
    private readonly connections: TenantConnections,
    ttlMs = DEFAULT_DEVICE_CACHE_MS,
  ) {
    this.#cache = new TtlCache(ttlMs);
  }

  /** How long lookups are reused; applies to what is already cached. */
  setCacheLifetime(ms: number): void {
    this.#cache.ttlMs = ms;
  }

  /**
   * Exactly one device. Otherwise DeviceNotFoundError or AmbiguousDeviceError, or, when there is no
   * tenant to look in, NoTenantToSearchError or TenantNotFoundError.
   */
  async resolve(query: { name?: string; deviceId?: string; tenantId?: string }, deadline?: Deadline): Promise<Device> {
    const matches = await this.find(query, deadline);
    const what = query.deviceId ? `device id ${query.deviceId}` : `the name '${query.name}'`;
    if (matches.length === 0) {
      throw new DeviceNotFoundError('device-not-found', `No device with ${what} was found in ${this.#scope(query.tenantId)}.`);
    }
    if (matches.length > 1) {
      throw new AmbiguousDeviceError(
        'ambiguous-device',
        `${matches.length} devices match ${what}: ${matches.map((d) => `${d.deviceName} (deviceId ${d.deviceId}, tenant ${d.tenantId})`).join('; ')}. Ask again with deviceId.`,
        { candidates: matches.map(({ deviceName, deviceId, tenantId }) => ({ deviceName, deviceId, tenantId })) },
      );
    }
    return matches[0]!;
  }

  async find(query: { name?: string; deviceId?: string; tenantId?: string }, deadline?: Deadline): Promise<readonly Device[]> {
    const tenantIds = this.#tenantsToSearch(query.tenantId);
    const filter = query.deviceId ? `deviceId eq ${odataString(query.deviceId.toLowerCase())}` : `displayName eq ${odataString(query.name ?? '')}`;
    if (tenantIds.length === 1) return this.#findIn(tenantIds[0]!, filter, deadline);
    const results = await Promise.all(tenantIds.map((tenantId) => this.#findIn(tenantId, filter, deadline)));
    return results.flat();
  }

  /** One page of the devices of every enabled tenant (or one), tenant after tenant. */
  async list(query: { tenantId?: string; top: number; cursor?: string }): Promise<DevicePage> {
    const tenantIds = this.#tenantsToSearch(query.tenantId);
    const position = query.cursor ? this.#openCursor(query.cursor) : { tenantId: tenantIds[0]! };
    const index = tenantIds.indexOf(position.tenantId);
    if (index < 0) {
      throw new ValidationError([{ path: 'query/cursor', message: `belongs to a listing of tenant ${position.tenantId}, which is not listed here (removed, disabled, or another tenantId); start again without cursor` }]);
    }
    const graph = this.connections.graphFor(position.tenantId);
    const page = await graph.call<{ value: GraphDevice[]; '@odata.nextLink'?: string }>(
      position.nextLink ?? `/v1.0/devices?$select=${SELECT}&$top=${query.top}`,
      { permission: 'Device.Read.All' },
    );
    const nextLink = page['@odata.nextLink'];
    const next: ListPosition | undefined = nextLink
      ? { tenantId: position.tenantId, nextLink }
      : index + 1 < tenantIds.length
        ? { tenantId: tenantIds[index + 1]! }
        : undefined;
    return {
      items: page.value.map((d) => toDevice(d, position.tenantId)),
      ...(next ? { nextCursor: this.#sealCursor(next) } : {}),
    };
  }

  #sealCursor(position: ListPosition): string {
    const payload = Buffer.from(JSON.stringify(position)).toString('base64url');
    return `${payload}.${createHmac('sha256', this.#cursorKey).update(payload).digest('base64url')}`;
  }

  #openCursor(cursor: string): ListPosition {
    const [payload = '', mac = ''] = cursor.split('.');
    const expected = createHmac('sha256', this.#cursorKey).update(payload).digest();
    const given = Buffer.from(mac, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ValidationError([{ path: 'query/cursor', message: 'is not a cursor this daemon issued (cursors end when the daemon restarts); start the listing again without cursor' }]);
    }
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as ListPosition;
  }

  async #findIn(tenantId: string, filter: string, deadline: Deadline | undefined): Promise<readonly Device[]> {
    const key = `${tenantId}\n${filter.toLowerCase()}`;
    const cached = this.#cache.get(key);
    if (cached) return cached;
    const graph = this.connections.graphFor(tenantId);
    const found = await graph.all<GraphDevice>(`/v1.0/devices?$filter=${encodeURIComponent(filter)}&$select=${SELECT}`, { permission: 'Device.Read.All', ...deadlineOption(deadline) });
    const devices = found.map((d) => toDevice(d, tenantId));
    this.#cache.set(key, devices);
    return devices;
  }

  #tenantsToSearch(tenantId: string | undefined): readonly string[] {
    if (tenantId) {
      const tenant = this.tenants.get(tenantId);
      if (!tenant.enabled) throw new NoTenantToSearchError('tenant-disabled', `The tenant ${tenant.tenantId} ('${tenant.displayName}') is disabled. Enable it with updateTenant (PATCH /v1/tenants/{tenantId}) and enabled: true.`);
      return [tenant.tenantId];
    }
    const enabled = this.tenants.enabledTenantIds();
    if (enabled.length === 0) throw new NoTenantToSearchError('no-tenant', 'No enabled tenant is configured. Add one with createTenant (POST /v1/tenants), then check it with testTenant (POST /v1/tenants/{tenantId}/test).');
    return enabled;
  }

  #scope(tenantId: string | undefined): string {
    return tenantId ? `tenant ${tenantId}` : 'any enabled tenant';
  }
}
