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
  const graph = new GraphClient({ endpoint: tenant.graphEndpoint, dispatcher, getToken: (request) => tokens.getToken(request), clientVersion: version, ...options });
  return { tokens, graph };
}

export class TenantConnections {
  readonly #clients = new Map<string, GraphClient>();

  constructor(
    private readonly tenants: TenantService,
    private readonly dispatcher: Dispatcher,
    private readonly version: string,
  ) {
    // A changed tenant gets a new client (new credential, endpoints) on next use; a removed one none.
    tenants.onChange((tenantId) => this.#clients.delete(tenantId));
  }

  graphFor(tenantId: string): GraphClient {
    const cached = this.#clients.get(tenantId.toLowerCase());
    if (cached) return cached;
    const tenant = this.tenants.getWithCredential(tenantId); // 404 for a tenant that is not configured
    const { graph } = connectTo(tenant, this.dispatcher, this.version);
    this.#clients.set(tenant.tenantId, graph);
    return graph;
  }
}
