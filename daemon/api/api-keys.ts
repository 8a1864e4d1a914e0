import type { ApiKeyService } from '../auth/api-keys.js';
import type { OperationHandlers } from './operation-types.js';
import type { RequestContextTools } from './request-origin.js';

export function apiKeyHandlers(apiKeys: ApiKeyService, tools: RequestContextTools): Pick<OperationHandlers, 'listApiKeys' | 'createApiKey' | 'revokeApiKey'> {
  return {
    async listApiKeys({ query }) {
      return { items: apiKeys.list(query.status) };
    },
    async createApiKey(context) {
      const { view, key } = await apiKeys.create(context.body, tools.author(context));
      context.reply.header('Location', `/v1/api-keys/${view.id}`);
      return { ...view, key };
    },
    async revokeApiKey(context) {
      return apiKeys.revoke(context.params.id, tools.author(context));
    },
  };
}
