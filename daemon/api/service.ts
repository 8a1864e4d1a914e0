import { toCallerView } from '../auth/caller.js';
import type { TenantService } from '../directory/tenant-service.js';
import type { OperationHandlers } from './operation-types.js';

/** What a 503 of the health check asks to wait: about how often a daemon asks its database again. */
const DATABASE_RETRY_SECONDS = 5;

export function serviceHandlers(
  version: string,
  tenants: TenantService,
  databaseAnswers?: () => Promise<boolean>,
): Pick<OperationHandlers, 'getHealth' | 'getCurrentCaller' | 'getAuthConfig'> {
  return {
    async getAuthConfig() {
      const signInTenants = tenants
        .list()
        .filter((t) => t.enabled && t.userSignInAudiences.length > 0 && t.userSignInClientId)
        .map((t) => ({
          tenantId: t.tenantId,
          displayName: t.displayName,
          authority: `${t.authorityHost}/${t.tenantId}`,
          clientId: t.userSignInClientId!,
          scopes: [t.userSignInScope!],
        }));
      const first = signInTenants[0];
      return {
        enabled: first !== undefined,
        ...(first ? { authority: first.authority, tenantId: first.tenantId, clientId: first.clientId, scopes: first.scopes } : {}),
        tenants: signInTenants,
      };
    },
    async getHealth({ reply }) {
      if (!databaseAnswers) return { status: 'ok', version };
      if (await databaseAnswers()) return { status: 'ok', version, database: 'ok' };
      // The daemon refuses reads and changes meanwhile (fail closed): a load balancer should take it out.
      reply.code(503).header('Retry-After', String(DATABASE_RETRY_SECONDS));
      return { status: 'unavailable', version, database: 'unreachable' };
    },
    async getCurrentCaller({ caller }) {
      return toCallerView(caller);
    },
  };
}
