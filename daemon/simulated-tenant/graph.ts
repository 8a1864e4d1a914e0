/**
 * The Microsoft Graph routes amsd uses, served from the seeded directory with Graph's behaviour where it
 * matters to a client: bearer tokens checked and roles enforced (401/403 with Graph's error codes),
 * `$filter`/`$select`/`$top` and paging by whole-URL `@odata.nextLink`, LAPS passwords only when
 * `$select` names `credentials`, 404 for a device without a backup, transitive group membership.
 */
import type { JWTPayload } from 'jose';
import { transitiveGroupIds, type SeededDevice, type SeededDirectory, type SeededGroup, type SeededUser } from './directory-data.js';
import { graphError, json, type Reply, type RouteRequest } from './http.js';
import type { Identity } from './identity.js';

/** Permissions that include others (Directory.Read.All reads every directory object). */
const IMPLIED: Record<string, string[]> = {
  'Directory.Read.All': ['Device.Read.All', 'User.Read.All', 'Group.Read.All', 'GroupMember.Read.All'],
  'Directory.ReadWrite.All': ['Device.Read.All', 'User.Read.All', 'Group.Read.All', 'GroupMember.Read.All'],
  'Group.Read.All': ['GroupMember.Read.All'],
  'DeviceLocalCredential.Read.All': ['DeviceLocalCredential.ReadBasic.All'],
  'BitlockerKey.Read.All': ['BitlockerKey.ReadBasic.All'],
  // Not PrivilegedOperations.All: it lets an app run device actions, not read devices (intune.ts).
  'DeviceManagementManagedDevices.ReadWrite.All': ['DeviceManagementManagedDevices.Read.All'],
};

const DEVICE_FIELDS = ['id', 'deviceId', 'displayName', 'operatingSystem', 'operatingSystemVersion', 'accountEnabled', 'trustType', 'approximateLastSignInDateTime'] as const;
const LAPS_METADATA = ['id', 'deviceName', 'lastBackupDateTime', 'refreshDateTime'];
const MAX_CHECK_GROUP_IDS = 20;

type Item = Record<string, unknown>;
type Ctx = RouteRequest & { roles: Set<string> };

export class Graph {
  constructor(
    private readonly directory: SeededDirectory,
    private readonly identity: Identity,
    private readonly host: string,
    private readonly limits: { getMemberGroups: number },
  ) {}

  /** Routes under `/v1.0/`; undefined when the path is not a Graph route. */
  async handle(req: RouteRequest): Promise<Reply | undefined> {
    if (!req.url.pathname.startsWith('/v1.0/')) return undefined;
    const authorized = await authorizeGraphCall(req, this.identity);
    return 'reply' in authorized ? authorized.reply : this.#route({ ...req, roles: authorized.roles });
  }

  #route(req: Ctx): Reply {
    const path = req.url.pathname.slice('/v1.0'.length).replace(/\/+$/, '');
    const get = req.method === 'GET';
    const post = req.method === 'POST';
    let m: RegExpExecArray | null;

    if ((m = /^\/(devices|users|directoryObjects)\/([^/]+)\/(checkMemberGroups|getMemberGroups)$/.exec(path))) {
      return post ? this.#membership(req, m[1]!, decodeURIComponent(m[2]!), m[3]!) : methodNotAllowed(req);
    }
    if (!get) return methodNotAllowed(req);

    if (path === '/devices') return this.#need(req, ['Device.Read.All']) ?? this.#collection(req, this.directory.devices.map(deviceView));
    if ((m = /^\/devices\(deviceId='([^']+)'\)$/.exec(path)) || (m = /^\/devices\/([^/]+)$/.exec(path))) {
      const key = decodeURIComponent(m[1]!).toLowerCase();
      const byDeviceId = path.startsWith('/devices(');
      const device = this.directory.devices.find((d) => (byDeviceId ? d.deviceId : d.id) === key);
      return this.#need(req, ['Device.Read.All']) ?? (device ? this.#entity(req, deviceView(device), 'devices/$entity') : notFound(req, key));
    }
    if ((m = /^\/devices\/([^/]+)\/transitiveMemberOf$/.exec(path))) {
      const device = this.directory.devices.find((d) => d.id === decodeURIComponent(m![1]!));
      if (!device) return this.#need(req, ['Device.Read.All']) ?? notFound(req, m[1]!);
      const groups = [...transitiveGroupIds(this.directory, device.id)].map((id) => groupView(this.directory.groups.find((g) => g.id === id)!));
      return this.#need(req, ['Device.Read.All']) ?? this.#collection(req, groups.map((g) => ({ '@odata.type': '#microsoft.graph.group', ...g })), { defaultTop: 100, maxTop: 999 });
    }
    if ((m = /^\/(users|devices)\/([^/]+)\/transitiveMemberOf\/microsoft\.graph\.group$/.exec(path))) return this.#transitiveGroups(req, m[1]!, decodeURIComponent(m[2]!));
    if (path === '/users') return this.#need(req, ['User.Read.All']) ?? this.#collection(req, this.directory.users.map(userView));
    if ((m = /^\/users\/([^/]+)$/.exec(path))) {
      const user = this.#user(decodeURIComponent(m[1]!));
      return this.#need(req, ['User.Read.All']) ?? (user ? this.#entity(req, userView(user), 'users/$entity') : notFound(req, m[1]!));
    }
    if (path === '/groups') return this.#need(req, ['Group.Read.All']) ?? this.#collection(req, this.directory.groups.map(groupView));
    if ((m = /^\/groups\/([^/]+)$/.exec(path))) {
      const group = this.directory.groups.find((g) => g.id === decodeURIComponent(m![1]!));
      return this.#need(req, ['Group.Read.All']) ?? (group ? this.#entity(req, groupView(group), 'groups/$entity') : notFound(req, m[1]!));
    }
    if (path === '/directory/deviceLocalCredentials') {
      // The list never carries passwords, whatever $select asks for.
      const items = this.directory.devices.filter((d) => d.laps).map((d) => lapsView(d, false));
      return this.#need(req, ['DeviceLocalCredential.ReadBasic.All']) ?? this.#collection(req, items, { strip: ['credentials'] });
    }
    if ((m = /^\/directory\/deviceLocalCredentials\/([^/]+)$/.exec(path))) return this.#laps(req, decodeURIComponent(m[1]!).toLowerCase());
    if (path === '/informationProtection/bitlocker/recoveryKeys') {
      if (req.url.searchParams.has('$top')) return graphError(req, 400, 'BadRequest', "Query option '$top' is not supported for this resource.");
      const keys = this.directory.devices.flatMap((d) => d.bitlockerKeys.map(({ key: _key, ...rest }) => rest));
      return this.#need(req, ['BitlockerKey.ReadBasic.All']) ?? this.#collection(req, keys, { defaultTop: 20, allowTop: false, strip: ['key'] });
    }
    if ((m = /^\/informationProtection\/bitlocker\/recoveryKeys\/([^/]+)$/.exec(path))) {
      const select = selectOf(req);
      const denied = this.#need(req, select?.includes('key') ? ['BitlockerKey.Read.All'] : ['BitlockerKey.ReadBasic.All']);
      if (denied) return denied;
      const key = this.directory.devices.flatMap((d) => d.bitlockerKeys).find((k) => k.id === decodeURIComponent(m![1]!));
      if (!key) return notFound(req, m[1]!);
      const { key: secret, ...metadata } = key;
      return this.#entity(req, select?.includes('key') ? { ...metadata, key: secret } : metadata, 'informationProtection/bitlocker/recoveryKeys/$entity');
    }
    return graphError(req, 400, 'BadRequest', `Resource not found for the segment '${path.split('/')[1] ?? ''}'.`);
  }

  #laps(req: Ctx, deviceId: string): Reply {
    const select = selectOf(req);
    const wantsCredentials = select?.some((f) => f.toLowerCase() === 'credentials') ?? false;
    // ReadBasic.All reads metadata; passwords need Read.All.
    const denied = this.#need(req, wantsCredentials ? ['DeviceLocalCredential.Read.All'] : ['DeviceLocalCredential.ReadBasic.All']);
    if (denied) return denied;
    const device = this.directory.devices.find((d) => d.deviceId === deviceId && d.laps);
    if (!device) return notFound(req, deviceId);
    const view = lapsView(device, wantsCredentials);
    // Top level, not wrapped in `value` (the documentation's example is wrong about that).
    return this.#entity(req, project(view, select ?? LAPS_METADATA), 'directory/deviceLocalCredentials/$entity', false);
  }

  #membership(req: Ctx, kind: string, id: string, action: string): Reply {
    const needs: Record<string, string[]> = {
      devices: ['Device.Read.All'],
      users: ['User.Read.All', 'GroupMember.Read.All'],
      directoryObjects: ['Device.Read.All', 'User.Read.All', 'GroupMember.Read.All'],
    };
    const denied = this.#need(req, needs[kind]!);
    if (denied) return denied;
    const object =
      kind === 'devices'
        ? this.directory.devices.find((d) => d.id === id)
        : kind === 'users'
          ? this.#user(id)
          : (this.directory.devices.find((d) => d.id === id) ?? this.#user(id) ?? this.directory.groups.find((g) => g.id === id));
    if (!object) return notFound(req, id);
    let body: { groupIds?: unknown; securityEnabledOnly?: unknown };
    try {
      body = (JSON.parse(req.body || 'null') as typeof body | null) ?? {};
    } catch {
      return graphError(req, 400, 'BadRequest', 'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.');
    }
    const memberOf = transitiveGroupIds(this.directory, object.id);
    if (action === 'checkMemberGroups') {
      const ids = body.groupIds;
      if (!Array.isArray(ids) || !ids.every((g) => typeof g === 'string')) return graphError(req, 400, 'Request_BadRequest', "Invalid value specified for property 'groupIds'.");
      if (ids.length > MAX_CHECK_GROUP_IDS) return graphError(req, 400, 'Request_BadRequest', `Too many groupIds: at most ${MAX_CHECK_GROUP_IDS} are allowed in one request.`);
      return json(200, { '@odata.context': `${this.host}/v1.0/$metadata#Collection(Edm.String)`, value: ids.filter((g) => memberOf.has(g.toLowerCase())) });
    }
    if (typeof body.securityEnabledOnly !== 'boolean') return graphError(req, 400, 'Request_BadRequest', "Invalid value specified for property 'securityEnabledOnly'.");
    const securityOnly = body.securityEnabledOnly;
    const value = [...memberOf].filter((g) => !securityOnly || this.directory.groups.find((x) => x.id === g)?.securityEnabled);
    // "This API returns up to 11,000 group IDs. If more than 11,000 results are available, it returns a
    // 400 Bad Request error with the Directory_ResultSizeLimitExceeded error code."
    // (https://learn.microsoft.com/graph/api/user-getmembergroups). The message is not documented.
    if (value.length > this.limits.getMemberGroups) {
      return graphError(req, 400, 'Directory_ResultSizeLimitExceeded', `The number of groups the object is a member of exceeds the limit of ${this.limits.getMemberGroups} that this function returns.`);
    }
    return json(200, { '@odata.context': `${this.host}/v1.0/$metadata#Collection(Edm.String)`, value });
  }

  /**
   * `/{users|devices}/{id}/transitiveMemberOf/microsoft.graph.group`: the object's groups, paged (100 by
   * default, 999 at most). An OData cast wants `ConsistencyLevel: eventual` and `$count=true`
   * (https://learn.microsoft.com/graph/api/user-list-transitivememberof, "Request headers"); without
   * them this answers 400, so a client that forgets them is caught here.
   */
  #transitiveGroups(req: Ctx, kind: string, id: string): Reply {
    const denied = this.#need(req, kind === 'users' ? ['User.Read.All', 'GroupMember.Read.All'] : ['Device.Read.All']);
    if (denied) return denied;
    const object = kind === 'users' ? this.#user(id) : this.directory.devices.find((d) => d.id === id);
    if (!object) return notFound(req, id);
    if (String(req.headers.consistencylevel ?? '').toLowerCase() !== 'eventual' || req.url.searchParams.get('$count') !== 'true') {
      return graphError(req, 400, 'Request_UnsupportedQuery', "OData casts on transitiveMemberOf need the 'ConsistencyLevel: eventual' header and $count=true.");
    }
    const groups = [...transitiveGroupIds(this.directory, object.id)].map((g) => ({ '@odata.type': '#microsoft.graph.group', ...groupView(this.directory.groups.find((x) => x.id === g)!) }));
    return this.#collection(req, groups, { defaultTop: 100, maxTop: 999 });
  }

  #user(idOrUpn: string): SeededUser | undefined {
    const key = idOrUpn.toLowerCase();
    return this.directory.users.find((u) => u.id === key || u.userPrincipalName.toLowerCase() === key);
  }

  /** 403 unless the token holds one of `permissions` (or one that implies it). */
  #need(req: Ctx, permissions: string[]): Reply | undefined {
    if (permissions.some((p) => req.roles.has(p))) return undefined;
    return graphError(req, 403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
  }

  #entity(req: Ctx, item: Item, context: string, applySelect = true): Reply {
    const select = selectOf(req);
    return json(200, { '@odata.context': `${this.host}/v1.0/$metadata#${context}`, ...(applySelect && select ? project(item, select) : item) });
  }

  /** A collection with Graph's query options: $filter, $select, $top, $count, paging by $skiptoken. */
  #collection(req: Ctx, items: Item[], options: { defaultTop?: number; maxTop?: number; allowTop?: boolean; strip?: string[] } = {}): Reply {
    const params = req.url.searchParams;
    const filterText = params.get('$filter');
    let filtered = items;
    if (filterText) {
      const predicate = parseFilter(filterText);
      if (typeof predicate === 'string') return graphError(req, 400, 'Request_UnsupportedQuery', predicate);
      filtered = items.filter(predicate);
    }
    const topText = params.get('$top');
    const maxTop = options.maxTop ?? 999;
    const top = topText === null || options.allowTop === false ? (options.defaultTop ?? 100) : Number(topText);
    if (!Number.isInteger(top) || top < 1 || top > maxTop) return graphError(req, 400, 'Request_BadRequest', `Invalid page size specified: '${topText}'. Must be between 1 and ${maxTop} inclusive.`);
    const wantsCount = params.get('$count') === 'true';
    if (wantsCount && String(req.headers.consistencylevel ?? '').toLowerCase() !== 'eventual') {
      return graphError(req, 400, 'Request_BadRequest', "$count is not currently supported without the 'ConsistencyLevel: eventual' header.");
    }
    const offset = decodeSkipToken(params.get('$skiptoken'));
    if (offset === undefined) return graphError(req, 400, 'Request_BadRequest', "Invalid value for '$skiptoken'.");
    const page = filtered.slice(offset, offset + top);
    const select = selectOf(req);
    const strip = new Set(options.strip ?? []);
    const value = page.map((item) => {
      const shown = select ? project(item, select) : item;
      return Object.fromEntries(Object.entries(shown).filter(([k]) => !strip.has(k)));
    });
    let nextLink: string | undefined;
    if (offset + top < filtered.length) {
      const next = new URL(req.url.pathname + req.url.search, this.host);
      next.searchParams.set('$skiptoken', encodeSkipToken(offset + top));
      nextLink = next.toString();
    }
    const context = `${this.host}/v1.0/$metadata#${req.url.pathname.slice('/v1.0/'.length)}`;
    return json(200, {
      '@odata.context': context,
      ...(wantsCount ? { '@odata.count': filtered.length } : {}),
      ...(nextLink ? { '@odata.nextLink': nextLink } : {}),
      value,
    });
  }
}

/**
 * The application permissions of a Graph call's bearer token (with those they imply), or Graph's 401 for
 * a missing, foreign, expired or revoked token. Shared by every Graph version the tenant serves.
 */
export async function authorizeGraphCall(req: RouteRequest, identity: Identity): Promise<{ roles: Set<string> } | { reply: Reply }> {
  const auth = /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
  const wwwAuthenticate = { 'www-authenticate': `Bearer realm="", authorization_uri="${identity.host}/${identity.tenantId}/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"` };
  if (!auth) return { reply: graphError(req, 401, 'InvalidAuthenticationToken', 'Access token is empty.', wwwAuthenticate) };
  const checked = await identity.verifyGraphToken(auth);
  if ('failure' in checked) {
    const challenge = checked.claimsChallenge ? { 'www-authenticate': `${wwwAuthenticate['www-authenticate']}, error="insufficient_claims", claims="${checked.claimsChallenge}"` } : wwwAuthenticate;
    return { reply: graphError(req, 401, 'InvalidAuthenticationToken', checked.failure, challenge) };
  }
  return { roles: expandRoles(checked.claims) };
}

function expandRoles(claims: JWTPayload): Set<string> {
  const roles = new Set(Array.isArray(claims.roles) ? (claims.roles as string[]) : []);
  for (const role of [...roles]) for (const implied of IMPLIED[role] ?? []) roles.add(implied);
  return roles;
}

const deviceView = (d: SeededDevice): Item => Object.fromEntries(DEVICE_FIELDS.map((f) => [f, d[f]]));
const userView = (u: SeededUser): Item => ({ ...u });
const groupView = ({ members: _members, ...g }: SeededGroup): Item => ({ ...g });
function lapsView(d: SeededDevice, withCredentials: boolean): Item {
  const laps = d.laps!;
  return {
    id: d.deviceId,
    deviceName: d.displayName,
    lastBackupDateTime: laps.lastBackupDateTime,
    refreshDateTime: laps.refreshDateTime,
    ...(withCredentials ? { credentials: laps.credentials.map((c) => ({ ...c })) } : {}),
  };
}

export function selectOf(req: RouteRequest): string[] | undefined {
  const select = req.url.searchParams.get('$select');
  return select ? select.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
}

/** Only the selected properties; Graph matches property names case-insensitively. */
export function project(item: Item, select: string[]): Item {
  const wanted = new Set(select.map((s) => s.toLowerCase()));
  return Object.fromEntries(Object.entries(item).filter(([k]) => wanted.has(k.toLowerCase())));
}

/**
 * The OData subset amsd sends: `prop eq 'text'` (quotes doubled inside), `prop eq true|false|number`,
 * `startswith(prop,'text')`, joined by `and`. String comparison is case-insensitive, as in Entra.
 * Returns a predicate, or an error message for anything else.
 */
export function parseFilter(filter: string): ((item: Item) => boolean) | string {
  const clause = /^\s*(?:startswith\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)|(\w+)\s+eq\s+(?:'((?:[^']|'')*)'|(true|false|-?\d+(?:\.\d+)?)))\s*/i;
  const tests: ((item: Item) => boolean)[] = [];
  let rest = filter;
  for (;;) {
    const m = clause.exec(rest);
    if (!m) return `Unsupported or invalid query filter clause specified: '${filter}'.`;
    const value = (k: string, item: Item) => Object.entries(item).find(([key]) => key.toLowerCase() === k.toLowerCase())?.[1];
    if (m[1] !== undefined) {
      const [prop, prefix] = [m[1], m[2]!.replace(/''/g, "'").toLowerCase()];
      tests.push((item) => scalarText(value(prop, item)).toLowerCase().startsWith(prefix));
    } else if (m[4] !== undefined) {
      const [prop, text] = [m[3]!, m[4].replace(/''/g, "'").toLowerCase()];
      tests.push((item) => typeof value(prop, item) === 'string' && (value(prop, item) as string).toLowerCase() === text);
    } else {
      const [prop, literal] = [m[3]!, m[5]!];
      const expected = literal === 'true' ? true : literal === 'false' ? false : Number(literal);
      tests.push((item) => value(prop, item) === expected);
    }
    rest = rest.slice(m[0].length);
    if (rest === '') return (item) => tests.every((test) => test(item));
    const and = /^and\s+/i.exec(rest);
    if (!and) return `Unsupported or invalid query filter clause specified: '${filter}'.`;
    rest = rest.slice(and[0].length);
  }
}

/** A property as `startsWith` compares it: strings, numbers and booleans as text; anything else matches nothing but ''. */
function scalarText(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';
}

// Opaque to clients, like Graph's; it is only an offset inside.
const encodeSkipToken = (offset: number) => Buffer.from(`RFNwdAIAAQAAA:${offset}`).toString('base64url');
function decodeSkipToken(token: string | null): number | undefined {
  if (token === null) return 0;
  const m = /^RFNwdAIAAQAAA:(\d+)$/.exec(Buffer.from(token, 'base64url').toString());
  return m ? Number(m[1]) : undefined;
}

const notFound = (req: RouteRequest, id: string) =>
  graphError(req, 404, 'Request_ResourceNotFound', `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`);
const methodNotAllowed = (req: RouteRequest) => graphError(req, 405, 'Request_BadRequest', `The HTTP method '${req.method}' is not allowed for this resource.`);
