import type { Dispatcher } from 'undici';
import { checkTenant } from '../directory/tenant-check.js';
import type { TenantService } from '../directory/tenant-service.js';
import type { OperationHandlers } from '../http/operation-types.js';

type TenantOperations = 'listTenants' | 'createTenant' | 'updateTenant' | 'deleteTenant' | 'testTenant';

export function tenantHandlers(tenants: TenantService, dispatcher: Dispatcher): Pick<OperationHandlers, TenantOperations> {
  return {
    async listTenants({ query }) {
      return { items: tenants.list(query.tenantId ? { tenantId: query.tenantId } : {}) };
    },
    async createTenant({ body, caller, reply }) {
      const view = await tenants.create(body, caller.displayName);
      reply.header('Location', `/v1/tenants?tenantId=${view.tenantId}`);
      return view;
    },
    async updateTenant({ params, body, caller }) {
      return tenants.update(params.tenantId, body, caller.displayName);
    },
    async testTenant({ params }) {
      return checkTenant(tenants, params.tenantId, dispatcher);
    },
    async deleteTenant({ params }) {
      await tenants.remove(params.tenantId);
      return undefined;
    },
  };
}
