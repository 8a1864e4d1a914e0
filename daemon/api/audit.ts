import type { AuditTrail } from '../audit/audit-trail.js';
import { AuditQueryError } from '../audit/event-index.js';
import type { OperationHandlers } from './operation-types.js';
import { ValidationError } from '../common/errors.js';

export function auditHandlers(audit: AuditTrail): Pick<OperationHandlers, 'listAuditEvents'> {
  return {
    async listAuditEvents({ query }) {
      try {
        const page = await audit.query(query);
        return { items: page.events, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
      } catch (error) {
        if (error instanceof AuditQueryError) throw new ValidationError([{ path: 'query', message: error.message }]);
        throw error;
      }
    },
  };
}
