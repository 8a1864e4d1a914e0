import type { Dispatcher } from 'undici';
import type { AccessService } from '../access/access-service.js';
import type { RuleService } from '../access/rule-service.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import type { ApiKeyService } from '../auth/api-keys.js';
import type { DeviceDirectory } from '../directory/devices.js';
import type { TenantService } from '../directory/tenant-service.js';
import type { OperationErrorHooks, OperationHandlers } from './operation-types.js';
import type { ChannelService } from '../notifications/channel-service.js';
import type { DeliveryQueue } from '../notifications/queue.js';
import type { SettingsService } from '../settings/settings-service.js';
import { apiKeyHandlers } from './api-keys.js';
import { auditHandlers } from './audit.js';
import { channelHandlers } from './channels.js';
import { deviceHandlers } from './devices.js';
import { requestContextTools } from './request-origin.js';
import { ruleHandlers } from './rules.js';
import { secretErrorHooks, secretHandlers } from './secrets.js';
import { serviceHandlers } from './service.js';
import { settingsHandlers } from './settings.js';
import { tenantHandlers } from './tenants.js';

export interface HandlerDependencies {
  version: string;
  audit: AuditTrail;
  apiKeys: ApiKeyService;
  tenants: TenantService;
  /** The outbound HTTP stack, for Entra and Graph. */
  dispatcher: Dispatcher;
  devices: DeviceDirectory;
  rules: RuleService;
  access: AccessService;
  settings: SettingsService;
  channels: ChannelService;
  queue: DeliveryQueue;
  /** With the state in PostgreSQL: whether the database answers now (the health answer says). */
  databaseAnswers?: () => Promise<boolean>;
}

/** Every operation of the contract, by operationId. The type makes a missing one a compile error. */
export function createHandlers(deps: HandlerDependencies): OperationHandlers {
  const tools = requestContextTools(deps.settings, deps.audit);
  return {
    ...serviceHandlers(deps.version, deps.tenants, deps.databaseAnswers),
    ...apiKeyHandlers(deps.apiKeys, tools),
    ...tenantHandlers(deps.tenants, deps.dispatcher, tools),
    ...deviceHandlers(deps.devices),
    ...ruleHandlers(deps.rules, tools),
    ...secretHandlers(deps.access, tools),
    ...auditHandlers(deps.audit),
    ...settingsHandlers(deps.settings, tools),
    ...channelHandlers(deps.channels, () => deps.queue, tools),
  };
}

/** Operations that record something about their errors before they are answered. */
export function createErrorHooks(deps: HandlerDependencies): OperationErrorHooks {
  return secretErrorHooks(deps.access, requestContextTools(deps.settings, deps.audit));
}
