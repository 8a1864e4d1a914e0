/**
 * Turning what an administrator types into directory objects: a principal given as an object id, a
 * user principal name or a group's display name, a target group by id or name. Resolved through Graph
 * when a rule is written, so that evaluation compares ids only. Nothing here is cached: rule writes
 * are rare, and an answer must reflect the directory as it is now.
 */
import type { TenantConnections } from '../directory/connections.js';
import { odataString } from '../directory/devices.js';
import { GraphError } from '../directory/graph-client.js';
import { InvalidGraphSegment, graphSegment } from '../directory/graph-path.js';
import type { PrincipalRef } from './types.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface GraphUser {
  id: string;
  userPrincipalName: string;
  displayName?: string;
}

interface GraphGroup {
  id: string;
  displayName: string;
}

/** Why an entry could not be resolved, in words for the administrator. */
export class UnresolvedName extends Error {}

export class DirectoryNames {
  constructor(private readonly connections: TenantConnections) {}

  /** A user (by object id or UPN) or a group (by object id or display name). */
  async principal(tenantId: string, entry: string): Promise<PrincipalRef> {
    const value = entry.trim();
    if (GUID.test(value)) {
      const user = await this.#get<GraphUser>(tenantId, `/v1.0/users/${graphSegment(value)}?$select=id,userPrincipalName,displayName`, 'User.Read.All');
      if (user) return { id: user.id.toLowerCase(), type: 'user', displayName: user.userPrincipalName };
      const group = await this.#get<GraphGroup>(tenantId, `/v1.0/groups/${graphSegment(value)}?$select=id,displayName`, 'Group.Read.All');
      if (group) return { id: group.id.toLowerCase(), type: 'group', displayName: group.displayName };
      throw new UnresolvedName(`no user or group has the object id ${value} in tenant ${tenantId}`);
    }
    if (value.includes('@')) return this.user(tenantId, value);
    const group = await this.group(tenantId, value);
    return { ...group, type: 'group' };
  }

  /** A user by object id or UPN. */
  async user(tenantId: string, entry: string): Promise<PrincipalRef> {
    const value = entry.trim();
    let segment: string;
    try {
      segment = graphSegment(value);
    } catch (error) {
      if (!(error instanceof InvalidGraphSegment)) throw error;
      throw new UnresolvedName(`'${entry}' is not a user (give an object id or a user principal name): it ${error.message}`);
    }
    const user = await this.#get<GraphUser>(tenantId, `/v1.0/users/${segment}?$select=id,userPrincipalName,displayName`, 'User.Read.All');
    if (!user) throw new UnresolvedName(`no user '${value}' in tenant ${tenantId} (give an object id or a user principal name)`);
    return { id: user.id.toLowerCase(), type: 'user', displayName: user.userPrincipalName };
  }

  /** A group by object id or by its display name, which must be unique. */
  async group(tenantId: string, entry: string): Promise<{ id: string; displayName: string }> {
    const value = entry.trim();
    if (GUID.test(value)) {
      const group = await this.#get<GraphGroup>(tenantId, `/v1.0/groups/${graphSegment(value)}?$select=id,displayName`, 'Group.Read.All');
      if (!group) throw new UnresolvedName(`no group has the object id ${value} in tenant ${tenantId}`);
      return { id: group.id.toLowerCase(), displayName: group.displayName };
    }
    const filter = encodeURIComponent(`displayName eq ${odataString(value)}`);
    const found = await this.connections.graphFor(tenantId).all<GraphGroup>(`/v1.0/groups?$filter=${filter}&$select=id,displayName`, { permission: 'Group.Read.All' });
    if (found.length === 0) throw new UnresolvedName(`no group is named '${value}' in tenant ${tenantId}`);
    if (found.length > 1) throw new UnresolvedName(`${found.length} groups are named '${value}' (${found.map((g) => g.id).join(', ')}); give the object id`);
    return { id: found[0]!.id.toLowerCase(), displayName: found[0]!.displayName };
  }

  /** One object, or undefined when Graph says it does not exist. */
  async #get<T>(tenantId: string, path: string, permission: string): Promise<T | undefined> {
    try {
      return await this.connections.graphFor(tenantId).call<T>(path, { permission });
    } catch (error) {
      if (error instanceof GraphError && error.kind === 'notFound') return undefined;
      throw error;
    }
  }
}
