import type { AccessService } from '../access/access-service.js';
import type { AccessType } from '../access/types.js';
import type { OperationErrorHooks, OperationHandlers } from './operation-types.js';
import type { RequestContextTools } from './request-origin.js';

type SecretOperations = 'getLocalAdminPassword' | 'getLocalAdminPasswordHistory' | 'getFveRecoveryKey' | 'getEffectiveAccess' | 'resetLocalAdminPassword' | 'listPasswordRotations';

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
    async resetLocalAdminPassword({ body, caller, request }) {
      return access.resetLocalAdminPassword(body, caller, tools.origin(request));
    },
    async listPasswordRotations({ query }) {
      return access.passwordRotations(query);
    },
  };
}

const SECRET_READS = {
  getLocalAdminPassword: 'LocalAdminPassword',
  getLocalAdminPasswordHistory: 'LocalAdminPasswordHistory',
  getFveRecoveryKey: 'BitLockerRecoveryKey',
  resetLocalAdminPassword: 'LocalAdminPasswordRotation',
} as const satisfies Record<string, AccessType>;

/** A secret read refused for any cause the decision steps do not see (a malformed body, a wrong content type) is audited too. */
export function secretErrorHooks(access: AccessService, tools: RequestContextTools): OperationErrorHooks {
  return Object.fromEntries(
    Object.entries(SECRET_READS).map(([operationId, accessType]) => [
      operationId,
      async (error, request, status) => {
        // Without a caller (a 401) there is no one to record: authentication failures are not reads.
        if (request.caller) await access.recordRefusal(accessType, request.body, request.caller, tools.origin(request), error, status);
      },
    ]),
  );
}
