/**
 * What the access layer asks of Entra about one device: its LAPS credentials, its BitLocker keys, and
 * which of the groups that rules target contain it (or a user). Secrets are never cached; group
 * answers are, for a short time, because rules ask the same question for every request.
 */
import type { TenantConnections } from './connections.js';
import { deadlineOption, type Deadline } from './deadline.js';
import { odataString, type Device } from './devices.js';
import { graphSegment } from './graph-path.js';
import { GraphError } from './graph-client.js';
import { TtlCache } from './ttl-cache.js';
import { toLapsCredentials, type GraphDeviceLocalCredentialInfo, type LapsCredential } from './laps.js';

export interface BitLockerKey {
  id: string;
  createdDateTime: string;
  /** Graph documents numbers (1 OS, 2 fixed data, 3 removable) and sends names; both read as names. */
  volumeType: 'operatingSystemVolume' | 'fixedDataVolume' | 'removableDataVolume' | 'unknownFutureValue';
  key: string;
}

interface GraphRecoveryKey {
  id: string;
  createdDateTime: string;
  volumeType: number | string;
  key?: string;
}

const VOLUME_TYPES: Record<string, BitLockerKey['volumeType']> = {
  '1': 'operatingSystemVolume',
  '2': 'fixedDataVolume',
  '3': 'removableDataVolume',
  operatingSystemVolume: 'operatingSystemVolume',
  fixedDataVolume: 'fixedDataVolume',
  removableDataVolume: 'removableDataVolume',
};

/** Graph's checkMemberGroups takes at most 20 group ids per call. */
const CHECK_BATCH = 20;
export const GROUP_CACHE_TTL_MS = 5 * 60_000;

export class DeviceSecrets {
  readonly #groupCache = new TtlCache<boolean>(GROUP_CACHE_TTL_MS);
  readonly #memberGroupsCache = new TtlCache<readonly string[]>(GROUP_CACHE_TTL_MS);

  constructor(private readonly connections: TenantConnections) {}

  /** How long group answers are reused; applies to what is already cached. */
  setCacheLifetime(ms: number): void {
    this.#groupCache.ttlMs = ms;
    this.#memberGroupsCache.ttlMs = ms;
  }

  /**
   * Every backed-up LAPS credential, newest first (the first is the current password), or with
   * `current` only the current one, no other decoded. Undefined when the device has no backup in
   * Entra ID (Graph answers 404).
   */
  async lapsCredentials(device: Device, deadline?: Deadline, which: 'current' | 'all' = 'all'): Promise<LapsCredential[] | undefined> {
    const graph = this.connections.graphFor(device.tenantId);
    try {
      const info = await graph.call<GraphDeviceLocalCredentialInfo>(
        `/v1.0/directory/deviceLocalCredentials/${graphSegment(device.deviceId)}?$select=id,deviceName,lastBackupDateTime,refreshDateTime,credentials`,
        { permission: 'DeviceLocalCredential.Read.All', ...deadlineOption(deadline) },
      );
      return toLapsCredentials(info, which === 'current' ? 1 : Infinity);
    } catch (error) {
      if (error instanceof GraphError && error.kind === 'notFound') return undefined;
      throw error;
    }
  }

  /** The device's BitLocker recovery keys: listed without keys, then each read with `$select=key`. */
  async bitLockerKeys(device: Device, deadline?: Deadline): Promise<BitLockerKey[]> {
    const graph = this.connections.graphFor(device.tenantId);
    const permission = 'BitlockerKey.Read.All';
    const options = { permission, ...deadlineOption(deadline) };
    const filter = encodeURIComponent(`deviceId eq ${odataString(device.deviceId)}`);
    const listed = await graph.all<GraphRecoveryKey>(`/v1.0/informationProtection/bitlocker/recoveryKeys?$filter=${filter}`, options);
    const keys = await Promise.all(
      listed.map((k) => graph.call<GraphRecoveryKey>(`/v1.0/informationProtection/bitlocker/recoveryKeys/${graphSegment(k.id)}?$select=key`, options)),
    );
    return listed
      .map((k, i) => ({
        id: k.id,
        createdDateTime: new Date(k.createdDateTime).toISOString(),
        volumeType: VOLUME_TYPES[String(k.volumeType)] ?? 'unknownFutureValue',
        key: keys[i]!.key ?? '',
      }))
      .sort((a, b) => b.createdDateTime.localeCompare(a.createdDateTime));
  }

  /**
   * Which of `groupIds` contain the object (a device's or a user's directory object id), transitively.
   * Asked in batches of 20; answers are cached per object and group.
   */
  async memberOf(tenantId: string, kind: 'devices' | 'users', objectId: string, groupIds: readonly string[], deadline?: Deadline): Promise<Set<string>> {
    const member = new Set<string>();
    const unknown: string[] = [];
    for (const groupId of new Set(groupIds)) {
      const cached = this.#groupCache.get(`${tenantId}/${objectId}/${groupId}`);
      if (cached !== undefined) {
        if (cached) member.add(groupId);
      } else {
        unknown.push(groupId);
      }
    }
    const graph = this.connections.graphFor(tenantId);
    for (let i = 0; i < unknown.length; i += CHECK_BATCH) {
      const batch = unknown.slice(i, i + CHECK_BATCH);
      const answer = await graph.call<{ value: string[] }>(`/v1.0/${kind}/${graphSegment(objectId)}/checkMemberGroups`, {
        method: 'POST',
        body: { groupIds: batch },
        permission: 'GroupMember.Read.All',
        idempotent: true,
        ...deadlineOption(deadline),
      });
      const inGroups = new Set(answer.value);
      for (const groupId of batch) {
        this.#groupCache.set(`${tenantId}/${objectId}/${groupId}`, inGroups.has(groupId));
        if (inGroups.has(groupId)) member.add(groupId);
      }
    }
    return member;
  }

  /**
   * Every group the object belongs to, transitively (`getMemberGroups`, security and other groups).
   * For a signed-in user whose token did not list its groups, or a key acting as a user. Cached.
   */
  async memberGroups(tenantId: string, kind: 'devices' | 'users', objectId: string, deadline?: Deadline): Promise<readonly string[]> {
    const key = `${tenantId}/${kind}/${objectId}`;
    const cached = this.#memberGroupsCache.get(key);
    if (cached) return cached;
    const graph = this.connections.graphFor(tenantId);
    let ids: string[];
    try {
      const answer = await graph.call<{ value: string[] }>(`/v1.0/${kind}/${graphSegment(objectId)}/getMemberGroups`, {
        method: 'POST',
        body: { securityEnabledOnly: false },
        permission: 'GroupMember.Read.All',
        idempotent: true,
        ...deadlineOption(deadline),
      });
      ids = answer.value;
    } catch (error) {
      if (!(error instanceof GraphError && error.details.code === 'Directory_ResultSizeLimitExceeded')) throw error;
      ids = await this.#transitiveGroups(tenantId, kind, objectId, deadline);
    }
    const groups = ids.map((id) => id.toLowerCase());
    this.#memberGroupsCache.set(key, groups);
    return groups;
  }

  /**
   * getMemberGroups returns at most 11,000 ids; past that it answers 400 Directory_ResultSizeLimitExceeded
   * and Microsoft's documented way is the object's transitive memberOf, cast to groups, paged
   * (https://learn.microsoft.com/graph/api/user-getmembergroups). The cast needs `ConsistencyLevel:
   * eventual` and `$count=true`, sent again with every page
   * (https://learn.microsoft.com/graph/api/user-list-transitivememberof, "Request headers").
   */
  async #transitiveGroups(tenantId: string, kind: 'devices' | 'users', objectId: string, deadline: Deadline | undefined): Promise<string[]> {
    const graph = this.connections.graphFor(tenantId);
    const groups = await graph.all<{ id: string }>(`/v1.0/${kind}/${graphSegment(objectId)}/transitiveMemberOf/microsoft.graph.group?$select=id&$top=999&$count=true`, {
      headers: { consistencylevel: 'eventual' },
      permission: 'GroupMember.Read.All',
      ...deadlineOption(deadline),
    });
    return groups.map((g) => g.id);
  }
}

