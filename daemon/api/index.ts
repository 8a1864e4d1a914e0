import type { ApiKeyService } from '../auth/api-keys.js';
import type { OperationHandlers } from '../http/operation-types.js';
import { apiKeyHandlers } from './api-keys.js';
import { serviceHandlers } from './service.js';

export interface HandlerDependencies {
  version: string;
  apiKeys: ApiKeyService;
}

/** Every operation of the contract, by operationId. The type makes a missing one a compile error. */
export function createHandlers(deps: HandlerDependencies): OperationHandlers {
  return {
    ...serviceHandlers(deps.version),
    ...apiKeyHandlers(deps.apiKeys),
  };
}
