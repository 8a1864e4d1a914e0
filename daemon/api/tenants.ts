import type { Dispatcher } from 'undici';
import { checkTenant } from '../directory/tenant-check.js';
import type { TenantService } from '../directory/tenant-service.js';
import type { OperationHandlers } from './operation-types.js';
import type { RequestContextTools } from './request-origin.js';

type TenantOperations = 'listTenants' | 'createTenant' | 'updateTenant' | 'deleteTenant' | 'testTenant';

export function tenantHandlers(tenants: TenantService, dispatcher: Dispatcher, tools: RequestContextTools): Pick<OperationHandlers, TenantOperations> {
  return {
    async listTenants({ query }) {
      return { items: tenants.list(query.tenantId ? { tenantId: query.tenantId } : {}) };
    },
    async createTenant(context) {
      const view = await tenants.create(context.body, tools.author(context));
      context.reply.header('Location', `/v1/tenants?tenantId=${view.tenantId}`);
      return view;
    },
    async updateTenant(context) {
      return tenants.update(context.params.tenantId, context.body, tools.author(context));
    },
    async testTenant({ params }) {
      return checkTenant(tenants, params.tenantId, dispatcher);
    },
    async deleteTenant(context) {
      await tenants.remove(context.params.tenantId, tools.author(context));
      return undefined;
    },
  };
}
