import type { Dispatcher } from 'undici';
import type { ApiKeyService } from '../auth/api-keys.js';
import type { TenantService } from '../directory/tenant-service.js';
import type { OperationHandlers } from '../http/operation-types.js';
import type { DeviceDirectory } from '../directory/devices.js';
import { apiKeyHandlers } from './api-keys.js';
import { deviceHandlers } from './devices.js';
import { serviceHandlers } from './service.js';
import { tenantHandlers } from './tenants.js';

export interface HandlerDependencies {
  version: string;
  apiKeys: ApiKeyService;
  tenants: TenantService;
  /** The outbound HTTP stack, for Entra and Graph. */
  dispatcher: Dispatcher;
  devices: DeviceDirectory;
}

/** Every operation of the contract, by operationId. The type makes a missing one a compile error. */
export function createHandlers(deps: HandlerDependencies): OperationHandlers {
  return {
    ...serviceHandlers(deps.version, deps.tenants),
    ...apiKeyHandlers(deps.apiKeys),
    ...tenantHandlers(deps.tenants, deps.dispatcher),
    ...deviceHandlers(deps.devices),
  };
}
