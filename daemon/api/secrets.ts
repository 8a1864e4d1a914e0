import type { AccessService } from '../access/access-service.js';
import type { OperationHandlers } from '../http/operation-types.js';
import type { RequestContextTools } from './request-origin.js';

type SecretOperations = 'getLocalAdminPassword' | 'getLocalAdminPasswordHistory' | 'getFveRecoveryKey' | 'getEffectiveAccess';

/** Cache-Control: no-store is set on every /v1/ answer (app.ts); these are the answers it exists for. */
export function secretHandlers(access: AccessService, tools: RequestContextTools): Pick<OperationHandlers, SecretOperations> {
  return {
    async getLocalAdminPassword({ body, caller, request }) {
      return access.localAdminPassword(body, caller, tools.origin(request));
    },
    async getLocalAdminPasswordHistory({ body, caller, request }) {
      return access.localAdminPasswordHistory(body, caller, tools.origin(request));
    },
    async getFveRecoveryKey({ body, caller, request }) {
      return access.fveRecoveryKeys(body, caller, tools.origin(request));
    },
    async getEffectiveAccess({ query }) {
      return access.effectiveAccess(query);
    },
  };
}
