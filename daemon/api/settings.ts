import type { OperationHandlers } from './operation-types.js';
import type { SettingsService } from '../settings/settings-service.js';
import type { RequestContextTools } from './request-origin.js';

export function settingsHandlers(settings: SettingsService, tools: RequestContextTools): Pick<OperationHandlers, 'getServiceConfig' | 'updateServiceConfig'> {
  return {
    async getServiceConfig() {
      return settings.get();
    },
    async updateServiceConfig(context) {
      return settings.update(context.body, tools.author(context));
    },
  };
}
