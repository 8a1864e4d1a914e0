import type { ApiKeyService } from '../auth/api-keys.js';
import type { OperationHandlers } from '../http/operation-types.js';

export function apiKeyHandlers(apiKeys: ApiKeyService): Pick<OperationHandlers, 'listApiKeys' | 'createApiKey' | 'revokeApiKey'> {
  return {
    async listApiKeys({ query }) {
      return { items: apiKeys.list(query.status) };
    },
    async createApiKey({ body, caller, reply }) {
      const { view, key } = await apiKeys.create(body, caller.displayName);
      reply.header('Location', `/v1/api-keys/${view.id}`);
      return { ...view, key };
    },
    async revokeApiKey({ params, caller }) {
      return apiKeys.revoke(params.id, caller.displayName);
    },
  };
}
