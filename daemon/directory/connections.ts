/**
 * One Graph client per tenant, kept while the tenant's configuration is unchanged so that MSAL's
 * token cache and the connection pools are reused across requests; rebuilt after Set-AmsTenant.
 */
import type { Dispatcher } from 'undici';
import { GraphClient } from './graph-client.js';
import { CLOUD_ENDPOINTS, type TenantService, type TenantWithCredential } from './tenant-service.js';
import { createTokenProvider, type TokenProvider } from './token-provider.js';

export interface TenantConnection {
  tokens: TokenProvider;
  graph: GraphClient;
}

/** A new MSAL client and Graph client for a tenant, with its stored credential. */
export function connectTo(
  tenant: TenantWithCredential,
  dispatcher: Dispatcher,
  version: string,
  options: { deadlineMs?: number } = {},
): TenantConnection {
  const tokens = createTokenProvider({
    tenantId: tenant.tenantId,
    clientId: tenant.clientId,
    credential: tenant.credential,
    authorityHost: tenant.authorityHost,
    graphResource: CLOUD_ENDPOINTS[tenant.cloud].graphEndpoint,
    dispatcher,
  });
  const graph = new GraphClient({ endpoint: tenant.graphEndpoint, dispatcher, getToken: () => tokens.getToken(), clientVersion: version, ...options });
  return { tokens, graph };
}

export class TenantConnections {
  readonly #clients = new Map<string, { stamp: string; graph: GraphClient }>();

  constructor(
    private readonly tenants: TenantService,
    private readonly dispatcher: Dispatcher,
    private readonly version: string,
  ) {}

  graphFor(tenantId: string): GraphClient {
    const tenant = this.tenants.getWithCredential(tenantId);
    const stamp = tenant.modifiedAt ?? tenant.createdAt;
    const cached = this.#clients.get(tenant.tenantId);
    if (cached?.stamp === stamp) return cached.graph;
    const { graph } = connectTo(tenant, this.dispatcher, this.version);
    this.#clients.set(tenant.tenantId, { stamp, graph });
    return graph;
  }
}
