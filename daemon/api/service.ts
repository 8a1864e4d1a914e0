import { toCallerView } from '../auth/caller.js';
import type { TenantService } from '../directory/tenant-service.js';
import type { OperationHandlers } from './operation-types.js';

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
    async getHealth() {
      if (!databaseAnswers) return { status: 'ok', version };
      return { status: 'ok', version, database: (await databaseAnswers()) ? 'ok' : 'unreachable' };
    },
    async getCurrentCaller({ caller }) {
      return toCallerView(caller);
    },
  };
}
